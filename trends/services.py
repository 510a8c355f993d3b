"""Sending due report emails, each period once per subscription.

A subscription is claimed with a compare-and-set on last_sent_period before the mail is
built (healthchecks' Flip pattern): of two workers racing on the same subscription, one
UPDATE matches a row and the other matches none, so nobody sends twice. A failed send
gives the claim back so the next run retries. A claim is a lease: one still open after
CLAIM_LEASE belongs to a worker that died before SMTP took the mail (or before it said so),
and the period is sent again with the same Message-ID (no report lost; a rare second copy
carries the first one's id).

Each report is computed with the subscriber's access as it is at send time (a worker has
no request): a subscriber moved out of a team stops receiving the team's figures at the
next period, whatever the subscription row says.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from access.services import access_for
from trends.emails import report_message
from trends.models import ReportSubscription
from trends.periods import KINDS, last_complete
from trends.reports import Report, build_report
from trends.rollup import rollup_scores
from trends.scope import Scope

log = logging.getLogger(__name__)
# As alerts.services.CLAIM_LEASE: far longer than one report's build and SMTP send.
CLAIM_LEASE = timedelta(minutes=10)


def claim(subscription: ReportSubscription, key: str, now: datetime) -> bool:
    won = ReportSubscription.objects.filter(
        pk=subscription.pk,
        active=True,
        last_sent_period=subscription.last_sent_period,
        sending_since=subscription.sending_since,
    ).update(last_sent_period=key, last_sent_at=now, sending_since=now)
    return won == 1


def release(subscription: ReportSubscription, key: str) -> None:
    ReportSubscription.objects.filter(pk=subscription.pk, last_sent_period=key).update(
        last_sent_period=subscription.last_sent_period,
        last_sent_at=subscription.last_sent_at,
        sending_since=subscription.sending_since,
    )


def message_id(subscription: ReportSubscription, key: str) -> str:
    """The same at every send of this period to this subscription (alerts.emails.message_id)."""
    domain = urlsplit(settings.POSTURE_BASE_URL).hostname or "localhost"
    return f"<report-{subscription.pk}.{key}@{domain}>"


def send_due_reports(now: datetime | None = None) -> int:
    """Send every active subscription the last complete period it has not had yet: weekly
    ones on Mondays, monthly ones on the 1st, quarterly ones on the first day of a quarter
    (or at the first run after, if the beat was down). Returns the number sent."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    rollup_scores(today)  # the period's last day must be in the rollup before reporting
    sent = 0
    for kind in KINDS:
        key = last_complete(kind, today).key
        # Not sent yet, or claimed by a worker that died (sending_since is null once sent).
        unsent = ~Q(last_sent_period=key) | Q(sending_since__lte=now - CLAIM_LEASE)
        due = (
            ReportSubscription.objects.filter(unsent, active=True, period=kind)
            .exclude(user__email="")
            .filter(user__is_active=True)
            .select_related("user")
            .order_by("pk")
        )
        # Subscribers who see the same teams share one computed report.
        built: dict[tuple[str, str], Report] = {}
        for subscription in due:
            access = access_for(subscription.user).scope
            if Scope.within(access, subscription.team).teams == ():
                # Outside the subscriber's teams now (or no team at all): nothing of
                # theirs to send. Not claimed, so being given the team back resumes mail.
                log.info("report %s for subscription %s: out of scope", key, subscription.pk)
                continue
            if not claim(subscription, key, now):
                continue
            try:
                shared = (access.key, subscription.team)
                if shared not in built:
                    built[shared] = build_report(kind, subscription.team, today, access)
                message = report_message(subscription, built[shared])
                message.extra_headers["Message-ID"] = message_id(subscription, key)
                message.send()
            except Exception:
                log.exception("report %s for subscription %s failed", key, subscription.pk)
                release(subscription, key)
                continue
            ReportSubscription.objects.filter(
                pk=subscription.pk, last_sent_period=key, sending_since=now
            ).update(sending_since=None)
            sent += 1
    return sent

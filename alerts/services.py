"""Alerting as plain functions: fan an event out to its subscribers, send one message, send
what is due (digests, held messages, anything a lost task left behind).

Every send starts with a compare-and-set claim on a row (healthchecks' `Flip` pattern), so
two workers, a retried task and the beat sweep can all race without a mail going twice.
Delivery is at most once: a row claimed by a worker that then died stays "sending".
"""

from __future__ import annotations

import logging
import smtplib
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.utils import timezone

from access.services import access_for
from alerts import audience, emails
from alerts.models import Event, Notification, Subscription

log = logging.getLogger(__name__)
Status = Notification.Status
# A row this old that is still unprocessed or pending lost its task (broker down, worker
# killed before it ran): the sweep takes it over.
SWEEP_AFTER = timedelta(minutes=2)


def user_language(user: Any) -> str:
    """The language a user's mail is written in: their saved preference, else the default
    (there is no browser to ask)."""
    from accounts.services import user_language as preferred

    return preferred(user)


def mails_last_hour(user_id: int, now: datetime) -> int:
    return Notification.objects.filter(
        user_id=user_id,
        created_at__gt=now - timedelta(hours=1),
        status__in=[Status.PENDING, Status.SENDING, Status.SENT, Status.FAILED],
    ).count()


def fan_out(event: Event, now: datetime) -> list[int]:
    """One Notification per interested user; the ids of those to send now."""
    regression = event.regression
    subs = Subscription.objects.filter(
        min_severity__lte=regression.severity, user__is_active=True
    ).select_related("user")
    by_user: dict[int, list[Subscription]] = {}
    for sub in subs:
        if sub.user.email and audience.matches(sub, regression.host):
            by_user.setdefault(sub.user_id, []).append(sub)
    # Whatever a subscription says, a user hears only of hosts in their scope as it is now.
    if by_user:
        seen = audience.scopes(user_subs[0].user for user_subs in by_user.values())
        labels = regression.host.labels
        by_user = {u: s for u, s in by_user.items() if seen[u].allows_labels(labels)}
    kind, send_now = emails.kind_for(event), []
    for user_id, user_subs in by_user.items():
        plan = audience.plan(user_subs, now, mails_last_hour(user_id, now))
        immediate = plan.reason == Notification.Reason.IMMEDIATE
        try:
            with transaction.atomic():
                n = Notification.objects.create(
                    user_id=user_id,
                    event=event,
                    kind=kind,
                    to=user_subs[0].user.email,
                    status=Status.PENDING if immediate else Status.HELD,
                    held_reason=plan.reason,
                    release_at=plan.release_at,
                    created_at=now,
                )
        except IntegrityError:  # this user was already told about this event
            continue
        if immediate:
            send_now.append(n.pk)
    return send_now


def process_event(event_id: int, now: datetime | None = None) -> int:
    """Claim the event, fan it out, send what goes now; the number of mails sent."""
    now = now or timezone.now()
    claimed = Event.objects.filter(pk=event_id, processed_at__isnull=True).update(processed_at=now)
    if not claimed:
        return 0
    event = Event.objects.select_related("regression__host", "regression__finding").get(pk=event_id)
    # fan_out has just checked each recipient's scope: no second look per message.
    return sum(send_notification(pk, scope_checked=True) for pk in fan_out(event, now))


def _deliver(n: Notification, message: EmailMultiAlternatives) -> bool:
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        log.warning("alert %s to %s failed: %r", n.pk, n.to, exc)
        n.status, n.error = Status.FAILED, f"{type(exc).__name__}: {exc}"[:1000]
        n.save(update_fields=["status", "error"])
        return False
    n.status, n.sent_at = Status.SENT, timezone.now()
    n.save(update_fields=["status", "sent_at"])
    return True


def _withhold(items: list[Notification]) -> None:
    Notification.objects.filter(pk__in=[n.pk for n in items]).update(
        status=Status.WITHHELD, digest=None
    )


def send_notification(notification_id: int, scope_checked: bool = False) -> bool:
    """Send one pending message. Unless its fan-out has just checked, the recipient's scope
    is read again: a message the sweep picks up late goes only to someone still allowed."""
    claimed = Notification.objects.filter(pk=notification_id, status=Status.PENDING).update(
        status=Status.SENDING, claimed_at=timezone.now()
    )
    if not claimed:
        return False
    n = Notification.objects.select_related(
        "user", "event__regression__host", "event__regression__finding"
    ).get(pk=notification_id)
    host = n.event.regression.host if n.event else None
    if host and not scope_checked and not access_for(n.user).scope.allows_labels(host.labels):
        _withhold([n])
        return False
    return _deliver(n, emails.single(n, user_language(n.user)))


def send_digest(user_id: int, now: datetime) -> bool:
    """Fold the user's held messages that are due into one mail."""
    user = get_user_model().objects.get(pk=user_id)
    digest = Notification.objects.create(
        user=user,
        kind=Notification.DIGEST_KIND,
        to=user.email,
        status=Status.SENDING,
        claimed_at=now,
        created_at=now,
    )
    # The claim: a row folded here is no longer held, so a concurrent sweep cannot take it.
    folded = Notification.objects.filter(
        user_id=user_id, status=Status.HELD, release_at__lte=now
    ).update(status=Status.FOLDED, digest=digest)
    if not folded:
        digest.delete()
        return False
    items = list(
        digest.folded.select_related(
            "event__regression__host", "event__regression__finding"
        ).order_by("created_at", "id")
    )
    # Held for hours, maybe: only what the user may still see goes into the digest.
    scope = access_for(user).scope
    allowed = [
        n for n in items if n.event is None or scope.allows_labels(n.event.regression.host.labels)
    ]
    _withhold([n for n in items if n not in allowed])
    if not allowed:
        digest.delete()
        return False
    return _deliver(digest, emails.digest(digest, allowed, user_language(user)))


def send_due(now: datetime | None = None) -> int:
    """The beat's sweep: lost events and sends first, then every digest that is due."""
    now = now or timezone.now()
    stale = now - SWEEP_AFTER
    sent = 0
    for pk in Event.objects.filter(processed_at__isnull=True, created_at__lte=stale).values_list(
        "pk", flat=True
    ):
        sent += process_event(pk, now)
    for pk in Notification.objects.filter(status=Status.PENDING, created_at__lte=stale).values_list(
        "pk", flat=True
    ):
        sent += send_notification(pk)
    users = (
        Notification.objects.filter(status=Status.HELD, release_at__lte=now)
        .order_by()
        .values_list("user_id", flat=True)
        .distinct()
    )
    for user_id in list(users):
        sent += send_digest(user_id, now)
    return sent

"""Alerting as plain functions: fan an event out to its subscribers, send one message, send
what is due (digests, held messages, anything a lost task left behind).

Every send starts with a compare-and-set claim on a row (healthchecks' `Flip` pattern), so
two workers, a retried task and the beat sweep can all race without a mail going twice.
A claim is a lease (CLAIM_LEASE): a row a worker claimed and never marked sent (it was
killed) is taken back by the sweep and sent again with the same Message-ID. No message is
lost; one is mailed twice only if the kill fell between SMTP's acceptance and the commit,
and then both copies carry one id (docs/RELIABILITY.md).

A subscription with a channel (Slack, Teams, a webhook) is its own recipient: its messages
are rows of their own, decided by the same audience.plan as mail (digests, quiet hours, its
own hourly rate limit) and handed to alerts.deliveries, which retries them.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from access.services import access_for
from alerts import audience, deliveries, emails
from alerts.models import Event, Notification, Subscription

log = logging.getLogger(__name__)
Status = Notification.Status
# A row this old that is still unprocessed or pending lost its task (broker down, worker
# killed before it ran): the sweep takes it over.
SWEEP_AFTER = timedelta(minutes=2)
# A row "sending" for this long was claimed by a worker that died. Far longer than one SMTP
# send (EMAIL_TIMEOUT per socket operation, 20 s by default) or one channel attempt, so a
# slow worker still sending is not raced.
CLAIM_LEASE = timedelta(minutes=10)


def user_language(user: Any) -> str:
    """The language a user's mail is written in: their saved preference, else the default
    (there is no browser to ask)."""
    from accounts.services import user_language as preferred

    return preferred(user)


# What counts against a rate limit: messages sent or on their way, not held or folded ones.
COUNTED = [Status.PENDING, Status.SENDING, Status.RETRY, Status.SENT, Status.FAILED]


def mails_last_hour(user_id: int, now: datetime) -> int:
    return Notification.objects.filter(
        user_id=user_id,
        subscription__isnull=True,
        created_at__gt=now - timedelta(hours=1),
        status__in=COUNTED,
    ).count()


def channel_messages_last_hour(subscription_id: int, now: datetime) -> int:
    return Notification.objects.filter(
        subscription_id=subscription_id,
        created_at__gt=now - timedelta(hours=1),
        status__in=COUNTED,
    ).count()


def _create(now: datetime, plan: audience.Plan, **fields: object) -> Notification | None:
    immediate = plan.reason == Notification.Reason.IMMEDIATE
    try:
        with transaction.atomic():
            return Notification.objects.create(
                status=Status.PENDING if immediate else Status.HELD,
                held_reason=plan.reason,
                release_at=plan.release_at,
                created_at=now,
                **fields,
            )
    except IntegrityError:  # this recipient was already told about this event
        return None


def fan_out_channels(event: Event, subs: list[Subscription], now: datetime) -> list[int]:
    """One Notification per channel subscription interested; the ids of those to send now.
    Each is planned alone: a channel is a recipient of its own, with its own rate limit."""
    kind, send_now = emails.kind_for(event), []
    for sub in subs:
        plan = audience.plan([sub], now, channel_messages_last_hour(sub.pk, now))
        n = _create(now, plan, user_id=sub.user_id, subscription=sub, event=event, kind=kind)
        if n is not None and n.status == Status.PENDING:
            send_now.append(n.pk)
    return send_now


def fan_out(event: Event, now: datetime) -> list[int]:
    """The mails of fan_out_all: the ids of those to send now."""
    return fan_out_all(event, now)[0]


def fan_out_all(event: Event, now: datetime) -> tuple[list[int], list[int]]:
    """One Notification per interested user (mail) and per interested channel subscription;
    the ids of those to send now: (mails, channel messages)."""
    regression = event.regression
    subs = Subscription.objects.filter(
        min_severity__lte=regression.severity, user__is_active=True
    ).select_related("user")
    matching = [sub for sub in subs if audience.matches(sub, regression.host)]
    # Whatever a subscription says, a user hears only of hosts in their scope as it is now.
    if matching:
        seen = audience.scopes({sub.user_id: sub.user for sub in matching}.values())
        matching = [s for s in matching if seen[s.user_id].allows_labels(regression.host.labels)]
    by_user: dict[int, list[Subscription]] = {}
    for sub in matching:
        if sub.is_email and sub.user.email:
            by_user.setdefault(sub.user_id, []).append(sub)
    kind, send_now = emails.kind_for(event), []
    for user_id, user_subs in by_user.items():
        plan = audience.plan(user_subs, now, mails_last_hour(user_id, now))
        to = user_subs[0].user.email
        n = _create(now, plan, user_id=user_id, event=event, kind=kind, to=to)
        if n is not None and n.status == Status.PENDING:
            send_now.append(n.pk)
    channels = fan_out_channels(event, [s for s in matching if not s.is_email], now)
    return send_now, channels


def process_event(event_id: int, now: datetime | None = None) -> int:
    """Claim the event, fan it out, send what goes now; the number of mails sent."""
    now = now or timezone.now()
    # The claim and the fan-out commit together: a worker killed between them would leave
    # the event processed with no one told (the sweep takes only unprocessed events).
    with transaction.atomic():
        claimed = Event.objects.filter(pk=event_id, processed_at__isnull=True).update(
            processed_at=now
        )
        if not claimed:
            return 0
        event = Event.objects.select_related("regression__host", "regression__finding").get(
            pk=event_id
        )
        mails, channels = fan_out_all(event, now)
    # Each channel message is a task of its own attempts (a slow receiver holds no mail back).
    deliveries.enqueue(channels)
    # fan_out has just checked each recipient's scope: no second look per message.
    return sum(send_notification(pk, scope_checked=True) for pk in mails)


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
    claimed = Notification.objects.filter(
        pk=notification_id, status=Status.PENDING, subscription__isnull=True
    ).update(status=Status.SENDING, claimed_at=timezone.now())
    if not claimed:
        return False
    n = Notification.objects.select_related(
        "user", "event__regression__host", "event__regression__finding"
    ).get(pk=notification_id)
    if n.kind == Notification.DIGEST_KIND:  # a digest whose worker died, taken back
        return _send_folded(n)
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
        user_id=user_id, subscription__isnull=True, status=Status.HELD, release_at__lte=now
    ).update(status=Status.FOLDED, digest=digest)
    if not folded:
        digest.delete()
        return False
    return _send_folded(digest)


def _send_folded(digest: Notification) -> bool:
    """Send a claimed digest with what is folded into it (none: a worker died before it
    folded anything, and the held rows are still held for the next digest)."""
    user = digest.user
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


def reclaim(now: datetime) -> int:
    """Give back the claims of workers that died: rows "sending" past the lease become
    pending again (compare-and-set, so of two sweeps one takes each row), and the sweep's
    pending pass claims and sends them as it does any lost send — mail or channel."""
    return Notification.objects.filter(
        status=Status.SENDING, claimed_at__lte=now - CLAIM_LEASE
    ).update(status=Status.PENDING)


def send_due(now: datetime | None = None) -> int:
    """The beat's sweep: lost claims, events and sends first, then every digest that is due."""
    now = now or timezone.now()
    stale = now - SWEEP_AFTER
    sent = 0
    if taken := reclaim(now):
        log.warning("alerts: %s message(s) claimed by a worker that died, sent again", taken)
    for pk in Event.objects.filter(processed_at__isnull=True, created_at__lte=stale).values_list(
        "pk", flat=True
    ):
        sent += process_event(pk, now)
    pending = Notification.objects.filter(status=Status.PENDING, created_at__lte=stale)
    for pk in pending.filter(subscription__isnull=True).values_list("pk", flat=True):
        sent += send_notification(pk)
    # Channel messages whose task was lost, or whose retry is due and was not scheduled.
    retry = Q(status=Status.RETRY, next_attempt_at__lte=now)
    lost = pending.filter(subscription__isnull=False)
    for pk in Notification.objects.filter(Q(pk__in=lost) | retry).values_list("pk", flat=True):
        sent += deliveries.attempt(pk, now)
    due = Notification.objects.filter(status=Status.HELD, release_at__lte=now).order_by()
    users = due.filter(subscription__isnull=True).values_list("user_id", flat=True).distinct()
    for user_id in list(users):
        sent += send_digest(user_id, now)
    channels = due.filter(subscription__isnull=False).values_list("subscription_id", flat=True)
    for subscription_id in list(channels.distinct()):
        sent += deliveries.send_digest(subscription_id, now)
    return sent

"""Channel messages handed to their receivers: the claim, one attempt, its record, and the
retry schedule.

A message row is claimed by compare-and-set (pending, or waiting to retry and due → sending),
as mail is (alerts.services), so two workers, an early retry and the beat's sweep cannot
post it twice. Each attempt is a DeliveryAttempt row (time, status code or error class,
duration, number). A transient failure (5xx, 429, timeout, dropped connection) waits an
exponentially growing, jittered delay — at least what a Retry-After asks — and is tried
again by a task scheduled for then or, if that task is lost, by the sweep; a permanent one
(another 4xx, a redirect, a refused target, an untrusted certificate) fails at once.

The URL and the signing key are opened here, in the worker, which alone holds the private
key; tasks carry ids only, and logs name the URL's host at most.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from django.db.models import F, Q
from django.utils import timezone

from access.services import access_for
from accounts.services import user_language
from alerts.channels import http, message, payloads
from alerts.models import DeliveryAttempt, Notification, Subscription
from posture.lib.crypto import DecryptionError, decrypt

log = logging.getLogger(__name__)
Status = Notification.Status
BASE_DELAY = 30.0  # seconds before the second attempt; doubled for each one after
ATTEMPTS = 5  # about 7 minutes of trying (30 s, 1, 2, 4 min apart), then the message fails
MAX_DELAY = 600.0  # below the broker's visibility timeout, so a scheduled retry is not redelivered


def backoff(attempt: int, retry_after: float | None = None) -> float:
    """Seconds before the attempt after `attempt`: exponential with jitter (so receivers that
    came back are not hit by every sender at once), never less than the receiver asked."""
    delay = min(MAX_DELAY, BASE_DELAY * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
    return max(delay, min(retry_after or 0.0, 3600.0))


def enqueue(ids: list[int], countdown: float | None = None) -> None:
    from alerts.tasks import deliver

    if not ids:
        return
    try:
        deliver.apply_async([ids], countdown=countdown)
    except Exception:  # noqa: BLE001 - a broker that is down must not fail the mails
        # The rows stay pending (or waiting to retry): the beat's sweep takes them over.
        log.warning("alert channels: could not queue %s message(s); the sweep will", len(ids))


def _claim(pk: int, now: datetime) -> bool:
    due = Q(status=Status.PENDING) | Q(status=Status.RETRY, next_attempt_at__lte=now)
    return bool(
        Notification.objects.filter(due, pk=pk, subscription__isnull=False).update(
            status=Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
    )


def _open(sub: Subscription) -> tuple[str, str]:
    """The subscription's URL and signing key, opened; DecryptionError if they cannot be."""
    url = decrypt(sub.target_enc) if sub.target_enc else ""
    secret = decrypt(sub.signing_secret_enc) if sub.signing_secret_enc else ""
    return url, secret


def post(sub: Subscription, msg: message.Message, delivery: str) -> http.Outcome:
    """One attempt to hand `msg` to the subscription's receiver."""
    try:
        url, secret = _open(sub)
    except DecryptionError as exc:
        log.error("alert channel %s: %s", sub.pk, exc)
        return http.Outcome(error=http.Error.CONFIGURATION, permanent=True)
    if not url or (sub.channel == Subscription.Channel.WEBHOOK and not secret):
        return http.Outcome(error=http.Error.CONFIGURATION, permanent=True)
    body, headers = payloads.build(sub.channel, msg, secret=secret, delivery=delivery)
    return http.post(url, body, headers)


def _record(sub: Subscription, n: Notification | None, number: int, outcome: http.Outcome) -> None:
    DeliveryAttempt.objects.create(
        subscription=sub,
        notification=n,
        number=number,
        duration_ms=outcome.duration_ms,
        status_code=outcome.status_code,
        error=outcome.error,
        test=n is None,
    )
    if not outcome.delivered:
        code = outcome.status_code or outcome.error
        log.warning(
            "alert channel %s to %s: attempt %s failed (%s)", sub.pk, sub.target_host, number, code
        )


def _message(n: Notification) -> message.Message:
    sub = n.subscription
    assert sub is not None
    access, language = access_for(sub.user), user_language(sub.user)
    if n.kind == Notification.DIGEST_KIND:
        folded = n.folded.select_related(
            "event__regression__host", "event__regression__finding"
        ).order_by("created_at", "id")
        pairs = [(f.event, f.kind) for f in folded if f.event is not None]
        return message.digest(pairs, access, language)
    assert n.event is not None
    return message.single(n.event, n.kind, access, language)


def attempt(pk: int, now: datetime | None = None, scope_checked: bool = False) -> bool:
    """Claim one channel message and try it once; True when the receiver took it."""
    now = now or timezone.now()
    if not _claim(pk, now):
        return False
    n = Notification.objects.select_related(
        "subscription__user", "event__regression__host", "event__regression__finding"
    ).get(pk=pk)
    sub = n.subscription
    assert sub is not None
    if n.kind == Notification.DIGEST_KIND and not scope_checked and not _keep_allowed(n):
        return False  # a digest taken back from a dead worker, nothing in it to say
    host = n.event.regression.host if n.event else None
    if host and not scope_checked and not access_for(sub.user).scope.allows_labels(host.labels):
        n.status = Status.WITHHELD
        n.save(update_fields=["status"])
        return False
    outcome = post(sub, _message(n), delivery=f"posture-{n.pk}")
    _record(sub, n, n.attempts, outcome)
    if outcome.delivered:
        n.status, n.sent_at, n.error = Status.SENT, timezone.now(), ""
        n.save(update_fields=["status", "sent_at", "error"])
        return True
    n.error = f"{outcome.status_code or ''} {outcome.error}".strip()
    if outcome.permanent or n.attempts >= ATTEMPTS:
        n.status = Status.FAILED
        n.save(update_fields=["status", "error"])
        return False
    delay = backoff(n.attempts, outcome.retry_after)
    n.status, n.next_attempt_at = Status.RETRY, now + timedelta(seconds=delay)
    n.save(update_fields=["status", "error", "next_attempt_at"])
    enqueue([n.pk], countdown=delay)
    return False


def deliver(ids: list[int], now: datetime | None = None) -> int:
    return sum(attempt(pk, now) for pk in ids)


def send_digest(subscription_id: int, now: datetime) -> bool:
    """Fold a channel's held messages that are due into one, then try it (as mail digests)."""
    sub = Subscription.objects.select_related("user").get(pk=subscription_id)
    digest = Notification.objects.create(
        user=sub.user,
        subscription=sub,
        kind=Notification.DIGEST_KIND,
        status=Status.SENDING,
        claimed_at=now,
        created_at=now,
    )
    folded = Notification.objects.filter(
        subscription=sub, status=Status.HELD, release_at__lte=now
    ).update(status=Status.FOLDED, digest=digest)
    if not folded:
        digest.delete()
        return False
    if not _keep_allowed(digest):
        return False
    Notification.objects.filter(pk=digest.pk).update(status=Status.PENDING)
    return attempt(digest.pk, now, scope_checked=True)


def _keep_allowed(digest: Notification) -> bool:
    """Withhold what the owner may no longer see from a channel digest; False, and the
    digest deleted, when nothing is left (a worker that died before folding anything)."""
    assert digest.subscription is not None
    scope = access_for(digest.subscription.user).scope
    outside = [
        f.pk
        for f in digest.folded.select_related("event__regression__host")
        if f.event is not None and not scope.allows_labels(f.event.regression.host.labels)
    ]
    Notification.objects.filter(pk__in=outside).update(status=Status.WITHHELD, digest=None)
    if digest.folded.exists():
        return True
    digest.delete()
    return False


def send_test(subscription_id: int) -> bool:
    """A test message, now, once (no retry): the worst open finding the owner sees."""
    from alerts.test_message import example_event

    sub = Subscription.objects.select_related("user").get(pk=subscription_id)
    language = user_language(sub.user)
    msg = message.as_test(
        message.single(example_event(sub.user), "finding", access_for(sub.user), language),
        language,
    )
    outcome = post(sub, msg, delivery=f"posture-test-{sub.pk}-{timezone.now():%Y%m%d%H%M%S}")
    _record(sub, None, 1, outcome)
    return outcome.delivered

"""The alerts page's side of channels: "Send test message" and the list of attempts.

A test message is at most one a minute per channel, counted in the audit trail (the record
every web process shares, as the account's test mail is: trends.test_message), and goes
through the worker like any message, since only workers can open the sealed URL."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from alerts.models import DeliveryAttempt, Subscription
from audit.models import AuditEvent
from audit.services import record

ACTION = "alert.channel_test"
EVERY = timedelta(minutes=1)
SHOWN = 20


def too_soon(sub: Subscription) -> bool:
    since = timezone.now() - EVERY
    return AuditEvent.objects.filter(
        action=ACTION, target_type="subscription", target_id=str(sub.pk), at__gt=since
    ).exists()


def send_channel_test(request: HttpRequest, sub: Subscription) -> None:
    from alerts.tasks import send_channel_test as task

    if too_soon(sub):
        messages.error(
            request, _("A test message went to this channel less than a minute ago: wait a minute.")
        )
        return
    record(
        ACTION,
        request=request,
        target=sub,
        details={"channel": sub.channel, "host": sub.target_host},
    )
    task.delay(sub.pk)  # the id only: the worker opens the URL
    messages.success(
        request,
        _("A test message is on its way to %(host)s: its attempt shows under Deliveries.")
        % {"host": sub.target_host or sub.get_channel_display()},
    )


def deliveries_of(user_id: int) -> list[DeliveryAttempt]:
    """The account's channels' last attempts, newest first: only its own subscriptions."""
    return list(
        DeliveryAttempt.objects.filter(subscription__user_id=user_id)
        .select_related("subscription", "notification")
        .order_by("-at", "-id")[:SHOWN]
    )

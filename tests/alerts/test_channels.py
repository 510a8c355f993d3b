"""Channels end to end: a real regression and its recovery reach a "Slack" receiver on
127.0.0.1 through detection and the Celery task; Teams gets an Adaptive Card; the mail's
digest and rate-limit decisions apply to a channel as they do to mail."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from alerts import deliveries, services
from alerts.channels import http
from alerts.forms import SubscriptionForm
from alerts.models import DeliveryAttempt, Notification, Subscription
from findings.models import Finding
from hosts.models import Host
from tests.alerts.helpers import BASE_URL, Scans, privileged
from tests.alerts.receiver import Receiver, receiver

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def channel_settings(settings: Any) -> None:
    settings.POSTURE_ALLOWED_TARGETS = "127.0.0.0/8"  # the receivers, and nothing else
    settings.POSTURE_ALERT_CHANNEL_TIMEOUT = 1


@pytest.fixture
def slack() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


def subscribe(user: Any, channel: str, url: str, **fields: Any) -> Subscription:
    """Through the form, as the page saves it (sealed URL, a signing key for webhooks)."""
    data = {"channel": channel, "url": url, "scope": "all", "min_severity": 3}
    data |= {"delivery": "immediate", "time_zone": "UTC", **fields}
    form = SubscriptionForm(data, address=user.email)
    assert form.is_valid(), form.errors
    form.instance.user = user
    return form.save()


def test_a_regression_and_its_recovery_reach_slack(
    host: Host, scans: Scans, slack: Receiver, client: Client, caplog: Any
) -> None:
    from tests.factories import UserFactory

    user = UserFactory(username="ops", email="")  # a channel needs no mail address
    sub = subscribe(user, "slack", slack.url)
    assert slack.url not in sub.target_enc and sub.target_host == "127.0.0.1"

    scans.success(host, opened=[privileged("web")])
    assert len(slack.requests) == 1
    opened = slack.requests[0].json()
    assert set(opened) == {"text", "blocks"}
    assert "pay-1" in opened["text"] and "CTR-PRIVILEGED on web" in opened["text"]
    fields = " ".join(f["text"] for f in opened["blocks"][1]["fields"])
    assert f"<{BASE_URL}/hosts/pay-1/|pay-1>" in fields and "critical" in fields
    assert opened["blocks"][-1]["elements"][0]["url"] == f"{BASE_URL}/hosts/pay-1/"

    finding = Finding.objects.get(host=host, rule_id="CTR-PRIVILEGED")
    scans.success(host, resolved=[finding])
    assert len(slack.requests) == 2
    assert slack.requests[1].json()["text"].startswith("Resolved on pay-1")
    assert Notification.objects.filter(subscription=sub, status="sent").count() == 2
    assert [a.status_code for a in DeliveryAttempt.objects.order_by("id")] == [200, 200]

    # What the owner sees: the attempts, the URL's host, never the URL.
    client.force_login(user)
    page = client.get(reverse("alerts")).content.decode()
    assert "Deliveries" in page and "127.0.0.1" in page and "s3cr3t-path" not in page
    assert "s3cr3t-path" not in caplog.text


def test_teams_gets_an_adaptive_card(host: Host, scans: Scans, slack: Receiver) -> None:
    from tests.factories import UserFactory

    subscribe(UserFactory(email="t@example.org"), "teams", slack.url)
    scans.success(host, opened=[privileged("db")])
    payload = slack.requests[0].json()
    assert payload["type"] == "message"
    (attachment,) = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    facts = {f["title"]: f["value"] for f in card["body"][1]["items"][1]["facts"]}
    assert facts["Host"] == "pay-1" and facts["Severity"] == "critical"
    assert card["actions"][0] == {
        "type": "Action.OpenUrl",
        "title": "Open in Posture",
        "url": f"{BASE_URL}/hosts/pay-1/",
    }


def test_a_digest_channel_gets_one_message_at_the_digest_hour(
    host: Host, scans: Scans, slack: Receiver
) -> None:
    from tests.factories import UserFactory

    sub = subscribe(UserFactory(email="d@example.org"), "slack", slack.url, delivery="digest")
    scans.success(host, opened=[privileged("a"), privileged("b")])
    held = Notification.objects.filter(subscription=sub)
    assert {n.status for n in held} == {"held"} and not slack.requests
    due = max(n.release_at for n in held if n.release_at) + timedelta(seconds=1)
    assert services.send_due(due) == 1
    (request,) = slack.requests
    assert request.json()["text"] == "Posture digest: 2 changes"
    assert Notification.objects.get(subscription=sub, kind="digest").status == "sent"


def test_the_rate_limit_applies_per_channel(
    host: Host, scans: Scans, slack: Receiver, settings: Any
) -> None:
    from tests.factories import UserFactory

    settings.POSTURE_ALERTS = {**settings.POSTURE_ALERTS, "RATE_LIMIT_PER_HOUR": 1}
    sub = subscribe(UserFactory(email="r@example.org"), "slack", slack.url)
    scans.success(host, opened=[privileged("a"), privileged("b")])
    reasons = sorted(n.held_reason for n in Notification.objects.filter(subscription=sub))
    assert reasons == ["", "rate"] and len(slack.requests) == 1


def test_500_is_retried_with_backoff_until_the_receiver_takes_it(
    host: Host, scans: Scans, slack: Receiver
) -> None:
    from tests.factories import UserFactory

    subscribe(UserFactory(email="x@example.org"), "slack", slack.url)
    slack.answer(500)
    slack.answer(200)
    before = timezone.now()
    scans.success(host, opened=[privileged()])
    n = Notification.objects.get(subscription__isnull=False)
    assert n.status == "retry" and n.attempts == 1 and n.error == "500 http"
    assert n.next_attempt_at and timedelta(seconds=14) < n.next_attempt_at - before
    # Not due yet: a second worker (or the scheduled task run early) sends nothing.
    assert deliveries.attempt(n.pk) is False
    # The sweep at the retry time sends it.
    services.send_due(n.next_attempt_at + timedelta(seconds=1))
    n.refresh_from_db()
    assert n.status == "sent" and n.attempts == 2 and len(slack.requests) == 2
    rows = list(
        DeliveryAttempt.objects.order_by("id").values_list("number", "status_code", "error")
    )
    assert rows == [(1, 500, "http"), (2, 200, "")]
    assert len({r.headers.get("X-Posture-Delivery") for r in slack.requests}) == 1


def test_429_waits_what_retry_after_asks(host: Host, scans: Scans, slack: Receiver) -> None:
    from tests.factories import UserFactory

    subscribe(UserFactory(email="y@example.org"), "slack", slack.url)
    slack.answer(429, {"Retry-After": "900"})
    before = timezone.now()
    scans.success(host, opened=[privileged()])
    n = Notification.objects.get(subscription__isnull=False)
    assert n.status == "retry" and n.next_attempt_at
    assert n.next_attempt_at - before >= timedelta(seconds=900)


def test_a_400_is_not_retried(host: Host, scans: Scans, slack: Receiver) -> None:
    from tests.factories import UserFactory

    subscribe(UserFactory(email="z@example.org"), "slack", slack.url)
    slack.answer(400)
    scans.success(host, opened=[privileged()])
    n = Notification.objects.get(subscription__isnull=False)
    assert (n.status, n.attempts, n.error) == ("failed", 1, "400 http")
    services.send_due(timezone.now() + timedelta(days=1))
    assert len(slack.requests) == 1


def test_a_timeout_is_retried_and_the_last_attempt_fails(
    host: Host, scans: Scans, slack: Receiver
) -> None:
    from tests.factories import UserFactory

    subscribe(UserFactory(email="w@example.org"), "slack", slack.url)
    slack.answer(200, delay=1.5)  # past the 1 s timeout of these tests
    slack.answer(503)
    scans.success(host, opened=[privileged()])
    n = Notification.objects.get(subscription__isnull=False)
    assert (n.status, n.error) == ("retry", "timeout")
    attempt = DeliveryAttempt.objects.get()
    assert attempt.error == "timeout" and attempt.status_code is None
    assert 900 <= attempt.duration_ms < 1500
    # After deliveries.ATTEMPTS, the message fails for good.
    for _ in range(deliveries.ATTEMPTS - 1):
        n.refresh_from_db()
        deliveries.attempt(n.pk, n.next_attempt_at)
    n.refresh_from_db()
    assert (n.status, n.attempts, n.error) == ("failed", deliveries.ATTEMPTS, "503 http")


def test_a_redirect_is_an_error_and_not_followed(host: Host, scans: Scans, slack: Receiver) -> None:
    from tests.factories import UserFactory

    subscribe(UserFactory(email="v@example.org"), "slack", slack.url)
    slack.answer(302, {"Location": "http://127.0.0.1:9/elsewhere"})
    scans.success(host, opened=[privileged()])
    n = Notification.objects.get(subscription__isnull=False)
    assert (n.status, n.error) == ("failed", "302 redirect") and len(slack.requests) == 1


def test_retry_after_reads_seconds_and_dates() -> None:
    now = timezone.now()
    assert http.retry_after("120") == 120.0
    later = (now + timedelta(seconds=60)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 55 <= (http.retry_after(later, now) or 0) <= 60
    assert http.retry_after("soon") is None
    assert 15 <= deliveries.backoff(1) <= 30 and deliveries.backoff(9) <= deliveries.MAX_DELAY
    assert deliveries.backoff(1, retry_after=300) == 300


def test_unreachable_and_quiet_hours_and_scope_as_for_mail(
    host: Host, scans: Scans, slack: Receiver
) -> None:
    from access.models import Team
    from tests.factories import UserFactory

    subscribe(UserFactory(email="u@example.org"), "slack", slack.url)
    now = timezone.now()
    quiet = {"quiet_start": (now - timedelta(hours=1)).strftime("%H:%M")}
    quiet["quiet_end"] = (now + timedelta(hours=1)).strftime("%H:%M")
    sleepy = subscribe(UserFactory(username="night"), "teams", slack.url, **quiet)
    web = Team.objects.create(name="web", label="web")
    outsider = UserFactory(username="web-op", role="operator", role__teams=[web])
    other = subscribe(outsider, "slack", slack.url)
    for _ in range(3):
        scans.failure(host)
    (request,) = slack.requests
    assert request.json()["text"] == "pay-1 failed its last 3 scans."
    assert Notification.objects.get(subscription=sleepy).held_reason == "quiet"
    assert not Notification.objects.filter(subscription=other).exists()

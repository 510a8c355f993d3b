"""The signed webhook and what guards a channel's URL: the documented verification snippet
accepts what Posture sends and refuses a tampered or replayed request; the signing key is
shown once; the URL is sealed, never in a page, a log or a task's arguments; the target
policy refuses it at the form and at send time; HTTPS trusts the system store only; two
workers on one message post it once."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.signals import task_prerun
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from alerts import deliveries
from alerts.channels import payloads
from alerts.models import DeliveryAttempt, Notification, Subscription
from hosts.models import Host
from lab.pki import make_pki
from posture.lib.crypto import decrypt
from tests.alerts.helpers import Scans, privileged
from tests.alerts.receiver import Receiver, receiver
from tests.alerts.test_channels import subscribe
from tests.factories import UserFactory

DOC = Path(django_settings.BASE_DIR) / "docs" / "WEBHOOKS.md"


@pytest.fixture(autouse=True)
def channel_settings(settings: Any) -> None:
    settings.POSTURE_ALLOWED_TARGETS = "127.0.0.0/8"
    settings.POSTURE_ALERT_CHANNEL_TIMEOUT = 2


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver(path="/posture?token=s3cr3t-query") as r:
        yield r


def documented_verify(doc: Path = DOC, after: str = "") -> Any:
    """The verify() of a document (the first Python block after `after`), exactly as a
    reader would paste it."""
    text = doc.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text[text.index(after) :], re.S)
    namespace: dict[str, Any] = {}
    exec(blocks[0], namespace)  # noqa: S102 - our own documentation
    return namespace["verify"]


@pytest.mark.django_db
def test_the_documented_snippet_verifies_a_real_delivery_and_refuses_replays(
    host: Host, scans: Scans, hook: Receiver, client: Client
) -> None:
    user = UserFactory(username="hooks", email="h@example.org")
    client.force_login(user)
    data = {"channel": "webhook", "url": hook.url, "scope": "all", "min_severity": 3}
    page = client.post(reverse("alerts"), {**data, "delivery": "immediate", "time_zone": "UTC"})
    assert page.status_code == 200  # no redirect: the key is in this answer only
    secret = re.search(r"<code>(whsec_[\w-]+)</code>", page.content.decode())
    assert secret, "the signing key is shown once"
    sub = Subscription.objects.get(user=user)
    assert secret[1] not in sub.signing_secret_enc and decrypt(sub.signing_secret_enc) == secret[1]
    assert secret[1] not in client.get(reverse("alerts")).content.decode()

    scans.success(host, opened=[privileged()])
    (request,) = hook.requests
    readme = documented_verify(DOC.parent.parent / "README.md", "## Alerts in Slack")
    assert readme(secret[1], request.headers, request.body)
    assert not readme(secret[1], request.headers, request.body + b" ")
    verify = documented_verify()
    assert verify(secret[1], request.headers, request.body)
    body = request.json()
    assert body["type"] == "posture.alert" and body["items"][0]["event"] == "regression"
    assert body["items"][0]["host"] == "pay-1" and body["items"][0]["rule_id"] == "CTR-PRIVILEGED"
    assert request.headers["X-Posture-Delivery"] == body["delivery"]
    # Tampered, signed with another key, or replayed after five minutes: refused.
    assert not verify(secret[1], request.headers, request.body.replace(b"pay-1", b"pay-2"))
    assert not verify("whsec_other", request.headers, request.body)
    old = int(time.time()) - 301
    replay = {
        "X-Posture-Timestamp": str(old),
        "X-Posture-Signature": payloads.sign(secret[1], old, request.body),
    }
    assert not verify(secret[1], replay, request.body)
    assert verify(secret[1], {**replay, "X-Posture-Timestamp": str(old + 2)}, request.body) is False
    fresh = int(time.time()) - 200
    signed = {"X-Posture-Timestamp": str(fresh)}
    signed["X-Posture-Signature"] = payloads.sign(secret[1], fresh, request.body)
    assert verify(secret[1], signed, request.body)


@pytest.mark.django_db
def test_the_url_is_never_in_a_page_a_log_or_a_task(
    host: Host, scans: Scans, hook: Receiver, client: Client, caplog: Any
) -> None:
    user = UserFactory(username="quiet", email="q@example.org")
    sub = subscribe(user, "slack", hook.url)
    hook.answer(500)
    hook.answer(200)
    payloads_seen: list[str] = []

    def seen(sender: Any = None, args: Any = None, kwargs: Any = None, **_: Any) -> None:
        payloads_seen.append(repr((args, kwargs)))

    task_prerun.connect(seen, weak=False)
    try:
        caplog.set_level("DEBUG")
        scans.success(host, opened=[privileged()])
        client.force_login(user)
        client.post(reverse("alert-channel-test", args=[sub.pk]))
    finally:
        task_prerun.disconnect(seen)
    assert any("deliver" in p or "[" in p for p in payloads_seen)
    page = client.get(reverse("alerts")).content.decode()
    for text in (page, caplog.text, *payloads_seen, sub.target_enc):
        assert "s3cr3t" not in text
    assert "127.0.0.1" in page and "Send test message" in page
    assert DeliveryAttempt.objects.filter(test=True).count() == 1
    # A second test within the minute is refused, like the account's test mail.
    again = client.post(reverse("alert-channel-test", args=[sub.pk]), follow=True)
    assert "less than a minute ago" in again.content.decode()
    assert DeliveryAttempt.objects.filter(test=True).count() == 1
    # Someone else's channel: not found, nothing sent.
    client.force_login(UserFactory(username="intruder"))
    assert client.post(reverse("alert-channel-test", args=[sub.pk])).status_code == 404


@pytest.mark.django_db
def test_the_target_policy_refuses_a_url_at_the_form_and_at_send_time(
    host: Host, scans: Scans, hook: Receiver, settings: Any
) -> None:
    user = UserFactory(email="p@example.org")
    sub = subscribe(user, "slack", hook.url)
    for url, says in (
        ("https://169.254.169.254/latest", "metadata"),
        ("http://hooks.example.org/x", "https://"),
        ("https://user:pw@hooks.example.org/x", "user name"),
        ("ftp://hooks.example.org/x", "https://"),
    ):
        form_data = {"channel": "slack", "url": url, "scope": "all", "min_severity": 3}
        from alerts.forms import SubscriptionForm

        form = SubscriptionForm({**form_data, "delivery": "immediate", "time_zone": "UTC"})
        assert not form.is_valid() and says in " ".join(form.errors["url"]), url
    # Loopback only where the policy names it: not through `*`, nor an empty policy.
    for policy in ("10.0.0.0/8", "*", ""):
        settings.POSTURE_ALLOWED_TARGETS = policy
        form = SubscriptionForm(
            {"channel": "slack", "url": hook.url, "scope": "all", "min_severity": 3}
            | {"delivery": "immediate", "time_zone": "UTC"}
        )
        assert not form.is_valid() and "127.0.0.1" in " ".join(form.errors["url"]), policy
    scans.success(host, opened=[privileged()])
    n = Notification.objects.get(subscription=sub)
    assert (n.status, n.error) == ("failed", "target_refused") and not hook.requests


@pytest.mark.django_db
def test_https_trusts_the_system_store_and_not_requests_ca_bundle(
    host: Host, scans: Scans, tmp_path: Path, monkeypatch: Any
) -> None:
    pki = make_pki(tmp_path / "pki", name="webhook-test")
    user = UserFactory(email="s@example.org")
    with receiver(pki) as https:
        sub = subscribe(user, "webhook", https.url)
        # REQUESTS_CA_BUNDLE names the test CA: it must not make Posture trust it.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca_cert))
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        scans.success(host, opened=[privileged("a")])
        n = Notification.objects.get(subscription=sub)
        assert (n.status, n.error) == ("failed", "tls")
        # The system's trust (OpenSSL's SSL_CERT_FILE) holding the CA: verified, delivered.
        monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca_cert))
        scans.success(host, opened=[privileged("b")])
        n = Notification.objects.filter(subscription=sub).latest("id")
        assert n.status == "sent" and len(https.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_on_one_message_post_it_once(hook: Receiver) -> None:
    from tests.alerts.test_concurrency import new_event

    user = UserFactory(email="c@example.org")
    sub = subscribe(user, "slack", hook.url)
    event = new_event()
    n = Notification.objects.create(user=user, subscription=sub, event=event, kind="finding")
    barrier = threading.Barrier(3)
    results: list[bool] = []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(deliveries.attempt(n.pk))
        finally:
            from django.db import connection

            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, True]
    assert len(hook.requests) == 1 and DeliveryAttempt.objects.count() == 1

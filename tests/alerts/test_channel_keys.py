"""Key rotation covers the alert channels: a Slack URL, a webhook's URL and its signing key,
sealed under an old key, are listed by `rotate_keys --check`, re-sealed by `rotate_keys`, and
still delivered to (and signed) once the old private key is gone."""

from __future__ import annotations

from typing import Any

import pytest

from alerts.channels.payloads import sign
from alerts.models import Notification, Subscription
from hosts.credentials import sealed_fields
from hosts.models import Host
from posture.lib import crypto
from tests.alerts.helpers import Scans, privileged
from tests.alerts.receiver import receiver
from tests.alerts.test_channels import subscribe
from tests.factories import UserFactory
from tests.hosts.test_rotate_keys import keys, run

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def channel_settings(settings: Any) -> None:
    settings.POSTURE_ALLOWED_TARGETS = "127.0.0.0/8"  # the receivers, and nothing else
    settings.POSTURE_ALERT_CHANNEL_TIMEOUT = 2


def test_the_channels_sealed_fields_are_found_by_rotation() -> None:
    found = dict(sealed_fields())
    assert set(found[Subscription]) == {"target_enc", "signing_secret_enc"}


def test_rotation_reseals_channels_and_they_deliver_after_the_old_key_is_removed(
    settings: Any, host: Host, scans: Scans
) -> None:
    """GIVEN a Slack channel and a signed webhook saved under an old key, WHEN the new key goes
    first, THEN --check lists the URLs and the signing key; WHEN rotate_keys has run and the
    old key is removed, THEN the next regression reaches both, signed with the same key."""
    old, new = crypto.generate_pair()[0], crypto.generate_pair()[0]
    keys(settings, old)
    user = UserFactory(username="chat", email="")
    with receiver() as slack, receiver(path="/posture?token=s3cr3t-query") as hook:
        chat = subscribe(user, "slack", slack.url)
        signed = subscribe(user, "webhook", hook.url)
        secret = crypto.decrypt(signed.signing_secret_enc)
        keys(settings, new, old)

        listing, status = run("--check")
        assert status == 1 and "3 secret(s) not under the current key" in listing
        for sub, field in ((chat, "target_enc"), (signed, "target_enc")):
            assert f"alerts.subscription {sub.pk} ({sub}) {field}: old key" in listing
        assert f"alerts.subscription {signed.pk} ({signed}) signing_secret_enc: old key" in listing
        assert "s3cr3t" not in listing and secret not in listing  # names, never values

        output, status = run()
        assert status == 0 and output.startswith("3 re-sealed, 0 already under key")
        keys(settings, new)  # the old key retired
        assert run("--check")[1] == 0

        scans.success(host, opened=[privileged()])
        assert (len(slack.requests), len(hook.requests)) == (1, 1)
    assert Notification.objects.filter(status="sent").count() == 2
    (request,) = hook.requests
    timestamp = int(request.headers["X-Posture-Timestamp"])
    assert request.headers["X-Posture-Signature"] == sign(secret, timestamp, request.body)

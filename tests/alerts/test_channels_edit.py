"""Editing a channel subscription: the stored URL is never shown back ("set — leave blank to
keep"), a blank field keeps it, a new one replaces it under the same checks; another
account's subscription is not found."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from alerts.models import Subscription
from posture.lib.crypto import decrypt
from tests.alerts.test_channels import subscribe
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
URL = "https://hooks.example.org/services/T0/B0/s3cr3t-path"


@pytest.fixture(autouse=True)
def targets(settings: Any) -> None:
    settings.POSTURE_ALLOWED_TARGETS = ""  # names that do not resolve: the send-time check


def test_a_blank_url_keeps_the_stored_one_and_a_new_one_replaces_it(client: Client) -> None:
    user = UserFactory(username="ed", email="ed@example.org")
    sub = subscribe(user, "slack", URL)
    client.force_login(user)
    url = reverse("alert-edit", args=[sub.pk])
    page = client.get(url).content.decode()
    assert "Set — leave blank to keep." in page and "s3cr3t" not in page
    assert 'value="slack" selected' in page

    common = {"channel": "slack", "scope": "all", "min_severity": 4, "delivery": "digest"}
    common |= {"time_zone": "UTC", "url": ""}
    assert client.post(url, common).status_code == 302
    sub.refresh_from_db()
    assert (sub.delivery, decrypt(sub.target_enc)) == ("digest", URL)

    refused = client.post(url, {**common, "url": "https://169.254.169.254/x"})
    assert (
        "metadata" in refused.content.decode()
        and "169.254.169.254/x" not in refused.content.decode()
    )
    client.post(url, {**common, "url": "https://chat.example.net/hook/new-s3cr3t"})
    sub.refresh_from_db()
    assert sub.target_host == "chat.example.net"

    # Turned into a webhook: a signing key is made and shown this once.
    made = client.post(url, {**common, "channel": "webhook"}).content.decode()
    sub.refresh_from_db()
    assert decrypt(sub.signing_secret_enc) in made and sub.channel == "webhook"

    client.force_login(UserFactory(username="other"))
    assert client.get(url).status_code == 404
    assert Subscription.objects.get().user == user

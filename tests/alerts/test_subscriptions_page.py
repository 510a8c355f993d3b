"""/alerts/: a user lists, adds and removes their own subscriptions, with or without htmx."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from access.models import Team
from alerts.models import Subscription
from tests.factories import HostFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(client: Client) -> Any:
    user = UserFactory(username="ana", email="ana@example.org")
    client.force_login(user)
    return user


def test_create_list_delete(client: Client, user: Any) -> None:
    HostFactory(name="pay-1", labels={"team": "payments"})
    page = client.get(reverse("alerts"))
    assert page.status_code == 200
    assert b'href="/alerts/"' in page.content  # the nav link

    response = client.post(
        reverse("alerts"),
        {
            "scope": "label",
            "team": "payments",
            "min_severity": 4,
            "delivery": "immediate",
            "quiet_start": "22:00",
            "quiet_end": "07:00",
            "time_zone": "Europe/Paris",
        },
    )
    assert response.status_code == 302
    sub = Subscription.objects.get(user=user)
    assert (sub.label_selector, sub.min_severity) == ("team=payments", 4)
    assert "team=payments" in client.get(reverse("alerts")).content.decode()

    assert client.post(reverse("alert-delete", args=[sub.pk])).status_code == 302
    assert not Subscription.objects.exists()


def test_htmx_post_answers_with_the_panel_and_errors(client: Client, user: Any) -> None:
    response = client.post(
        reverse("alerts"),
        {
            "scope": "label",
            "team": "",
            "min_severity": 3,
            "delivery": "immediate",
            "time_zone": "UTC",
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="alerts-panel">')
    assert "Choose the team." in body
    assert not Subscription.objects.exists()

    response = client.post(
        reverse("alerts"),
        {"scope": "all", "min_severity": 3, "delivery": "digest", "time_zone": "UTC"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "Daily digest" in response.content.decode()
    assert Subscription.objects.filter(user=user).count() == 1


def test_someone_elses_subscription_cannot_be_deleted(client: Client, user: Any) -> None:
    other = Subscription.objects.create(user=UserFactory(username="bob"))
    assert client.post(reverse("alert-delete", args=[other.pk])).status_code == 404
    assert Subscription.objects.filter(pk=other.pk).exists()
    assert "bob" not in client.get(reverse("alerts")).content.decode()


def test_page_needs_login(client: Client) -> None:
    assert client.get(reverse("alerts")).status_code == 302


def test_a_scoped_account_may_subscribe_only_to_its_teams(client: Client) -> None:
    pay = Team.objects.create(name="Payments", label="payments")
    Team.objects.create(name="Web", label="web")
    client.force_login(
        UserFactory(username="op", email="op@example.org", role="operator", role__teams=[pay])
    )
    page = client.get(reverse("alerts"), {"scope": "label"}).content.decode()
    assert "All hosts of my teams" in page
    assert '<option value="payments">Payments (team=payments)</option>' in page
    assert 'value="web"' not in page  # another team is not even offered

    fields = {"min_severity": 3, "delivery": "immediate", "time_zone": "UTC"}
    refused = client.post(reverse("alerts"), {"scope": "label", "team": "web", **fields})
    assert refused.status_code == 200
    assert "web is not one of the teams you may choose." in refused.content.decode()
    refused = client.post(
        reverse("alerts"), {"scope": "filter", "label_selector": "env=prod, team=web", **fields}
    )
    assert "web is not one of your teams." in refused.content.decode()
    htmx = client.post(
        reverse("alerts"), {"scope": "label", "team": "web", **fields}, HTTP_HX_REQUEST="true"
    )
    assert htmx.status_code == 422 and "not one of the teams" in htmx.content.decode()
    assert not Subscription.objects.exists()

    ok = client.post(reverse("alerts"), {"scope": "label", "team": "payments", **fields})
    assert ok.status_code == 302
    assert client.post(reverse("alerts"), {"scope": "all", **fields}).status_code == 302
    assert Subscription.objects.count() == 2


def test_an_unscoped_account_chooses_among_existing_teams(client: Client, user: Any) -> None:
    Team.objects.create(name="Web", label="web")  # a team without hosts yet
    HostFactory(name="ops-1", labels={"team": "ops"})  # a label no team declares
    fields = {"scope": "label", "min_severity": 3, "delivery": "immediate", "time_zone": "UTC"}

    page = client.get(reverse("alerts"), {"scope": "label"}).content.decode()
    assert '<option value="ops">team=ops</option>' in page
    assert '<option value="web">Web (team=web)</option>' in page

    typo = client.post(reverse("alerts"), {"team": "wbe", **fields})
    assert "wbe is not one of the teams you may choose." in typo.content.decode()
    assert client.post(reverse("alerts"), {"team": "web", **fields}).status_code == 302
    assert client.post(reverse("alerts"), {"team": "ops", **fields}).status_code == 302
    assert sorted(Subscription.objects.values_list("label_selector", flat=True)) == [
        "team=ops",
        "team=web",
    ]

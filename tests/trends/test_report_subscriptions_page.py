"""/reports/subscriptions/: a user subscribes to report mails, pauses, resumes and removes
them, only their own, with or without htmx."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from access.models import Team
from tests.factories import HostFactory, UserFactory
from trends.models import ReportSubscription

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(client: Client) -> Any:
    user = UserFactory(username="mia", email="mia@example.org")
    client.force_login(user)
    return user


def test_subscribe_from_the_report_page_then_pause_resume_remove(client: Client, user: Any):
    HostFactory(name="pay-1", labels={"team": "payments"})
    report = client.get(reverse("report"), {"period": "month", "team": "payments"})
    link = reverse("report-subscriptions") + "?period=month&amp;team=payments"
    assert link in report.content.decode()

    form = client.get(reverse("report-subscriptions"), {"period": "month", "team": "payments"})
    page = form.content.decode()
    assert (
        '<option value="payments" selected>' in page and '<option value="month" selected>' in page
    )

    response = client.post(reverse("report-subscriptions"), {"period": "month", "team": "payments"})
    assert response.status_code == 302
    sub = ReportSubscription.objects.get(user=user)
    assert (sub.period, sub.team, sub.active) == ("month", "payments", True)
    assert "team=payments" in client.get(reverse("report-subscriptions")).content.decode()

    client.post(reverse("report-subscription-toggle", args=[sub.pk]))
    sub.refresh_from_db()
    assert sub.active is False
    assert "Paused" in client.get(reverse("report-subscriptions")).content.decode()
    client.post(reverse("report-subscription-toggle", args=[sub.pk]))
    sub.refresh_from_db()
    assert sub.active is True

    assert client.post(reverse("report-subscription-delete", args=[sub.pk])).status_code == 302
    assert not ReportSubscription.objects.exists()


def test_the_whole_fleet_and_a_duplicate(client: Client, user: Any):
    assert client.post(reverse("report-subscriptions"), {"period": "week"}).status_code == 302
    assert ReportSubscription.objects.get(user=user).team == ""
    again = client.post(reverse("report-subscriptions"), {"period": "week", "team": " "})
    assert again.status_code == 200
    assert "You already receive this report." in again.content.decode()
    assert ReportSubscription.objects.count() == 1


def test_htmx_answers_with_the_panel_and_errors(client: Client, user: Any):
    response = client.post(
        reverse("report-subscriptions"), {"period": "fortnight"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="report-subs-panel">')
    assert "<html" not in body

    ok = client.post(reverse("report-subscriptions"), {"period": "quarter"}, HTTP_HX_REQUEST="true")
    assert ok.status_code == 200
    assert "You will receive this report by email." in ok.content.decode()
    sub = ReportSubscription.objects.get()
    toggled = client.post(
        reverse("report-subscription-toggle", args=[sub.pk]), HTTP_HX_REQUEST="true"
    )
    assert toggled.content.decode().lstrip().startswith('<div id="report-subs-panel">')


def test_a_user_without_an_address_is_told(client: Client):
    client.force_login(UserFactory(username="noaddr", email=""))
    response = client.post(reverse("report-subscriptions"), {"period": "week"})
    assert "Your account has no email address" in response.content.decode()
    assert not ReportSubscription.objects.exists()


def test_someone_elses_subscription_is_a_404(client: Client, user: Any):
    other = ReportSubscription.objects.create(user=UserFactory(email="o@example.org"))
    for name in ("report-subscription-toggle", "report-subscription-delete"):
        assert client.post(reverse(name, args=[other.pk])).status_code == 404
    assert client.get(reverse("report-subscription-delete", args=[other.pk])).status_code == 405
    other.refresh_from_db()
    assert other.active is True
    assert "o@example.org" not in client.get(reverse("report-subscriptions")).content.decode()


def test_anonymous_is_sent_to_login(client: Client):
    response = client.get(reverse("report-subscriptions"))
    assert response.status_code == 302 and "/login" in response["Location"]


def test_hostile_team_is_escaped(client: Client, user: Any):
    HostFactory(name="odd", labels={"team": "<script>x</script>"})
    client.post(reverse("report-subscriptions"), {"period": "week", "team": "<script>x</script>"})
    page = client.get(reverse("report-subscriptions")).content.decode()
    assert "<script>x</script>" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page


@pytest.fixture
def teams() -> dict[str, Team]:
    return {
        "pay": Team.objects.create(name="Payments", label="pay"),
        "web": Team.objects.create(name="Web", label="web"),
    }


def test_a_scoped_account_chooses_among_its_teams(client: Client, teams: dict[str, Team]):
    user = UserFactory(username="op", role="operator", role__teams=[teams["pay"]])
    client.force_login(user)
    HostFactory(name="web-1", labels={"team": "web"})  # a team of the fleet, not theirs

    page = client.get(reverse("report-subscriptions")).content.decode()
    assert '<select name="team"' in page
    assert '<option value="" selected>All my teams</option>' in page
    assert '<option value="pay">pay</option>' in page and 'value="web"' not in page

    refused = client.post(reverse("report-subscriptions"), {"period": "week", "team": "web"})
    assert refused.status_code == 200
    assert "web is not one of your teams: choose one in the list." in refused.content.decode()
    htmx = client.post(
        reverse("report-subscriptions"), {"period": "week", "team": "web"}, HTTP_HX_REQUEST="true"
    )
    assert htmx.status_code == 422 and "web is not one of your teams" in htmx.content.decode()
    assert not ReportSubscription.objects.exists()

    for team in ("pay", ""):
        response = client.post(reverse("report-subscriptions"), {"period": "week", "team": team})
        assert response.status_code == 302
    assert sorted(ReportSubscription.objects.values_list("team", flat=True)) == ["", "pay"]
    listed = client.get(reverse("report-subscriptions")).content.decode()
    assert "All my teams</td>" in listed and "Whole fleet" not in listed


def test_an_unscoped_account_chooses_among_the_fleets_teams(client: Client, user: Any):
    """GIVEN hosts of team web, WHEN an admin subscribes, THEN the team is a select of the
    teams hosts carry and the whole fleet; a typed team nobody carries is refused, saying
    why, where a free text field subscribed to an empty report."""
    HostFactory(name="web-1", labels={"team": "web"})
    page = client.get(reverse("report-subscriptions")).content.decode()
    assert '<select name="team"' in page and '<option value="web">web</option>' in page
    assert '<option value="" selected>Whole fleet</option>' in page
    assert 'list="report-teams"' not in page

    typo = client.post(reverse("report-subscriptions"), {"period": "week", "team": "wbe"})
    assert "No host has the team wbe: choose one in the list." in typo.content.decode()
    assert not ReportSubscription.objects.exists()
    ok = client.post(reverse("report-subscriptions"), {"period": "week", "team": "web"})
    assert ok.status_code == 302
    assert ReportSubscription.objects.get().team == "web"


def test_a_scoped_account_cannot_touch_another_users_subscription(
    client: Client, teams: dict[str, Team]
):
    client.force_login(UserFactory(username="v", role="viewer", role__teams=[teams["pay"]]))
    other = ReportSubscription.objects.create(
        user=UserFactory(username="w", email="w@example.org"), team="pay"
    )
    for name in ("report-subscription-toggle", "report-subscription-delete"):
        assert client.post(reverse(name, args=[other.pk])).status_code == 404
    other.refresh_from_db()
    assert other.active is True

"""The alert form asks only what its scope needs, says the threshold in words, previews the
hosts it covers within the account's scope, and takes a host or team from a link."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from access.models import Team
from alerts.forms import SubscriptionForm, prefill
from alerts.models import Subscription
from tests.factories import HostFactory, UserFactory

pytestmark = pytest.mark.django_db

QUIET = ["quiet_start", "quiet_end", "time_zone"]
COMMON = {"min_severity": 3, "delivery": "immediate", "time_zone": "UTC"}


@pytest.fixture
def fleet(db: None) -> None:
    for name, team in (("pay-1", "payments"), ("pay-2", "payments"), ("web-1", "web")):
        HostFactory(name=name, labels={"team": team, "env": "prod"}, owner_email="")
    HostFactory(name="lab-1", labels={}, owner_email="ana@example.org")


@pytest.fixture
def ana(client: Client) -> Any:
    user = UserFactory(username="ana", email="ana@example.org")
    client.force_login(user)
    return user


def names(html: str) -> list[str]:
    return re.findall(r'name="([a-z_]+)"', html)


@pytest.mark.parametrize(
    ("scope", "asked"),
    [
        ("all", []),
        ("host", ["host"]),
        ("label", ["team"]),
        ("owner", ["owner_email"]),
        ("filter", ["label_selector", "name_pattern"]),
    ],
)
def test_each_scope_shows_only_the_fields_it_needs(scope: str, asked: list[str]) -> None:
    form = SubscriptionForm(initial={"scope": scope})
    scoped = {"host", "team", "owner_email", "label_selector", "name_pattern"}
    assert [n for n in form.fields if n in scoped] == asked
    assert {"scope", "min_severity", "delivery", "quiet_start", "time_zone"} <= set(form.fields)
    assert form.preview_after == (asked[-1] if asked else "scope")


def test_the_threshold_is_in_words() -> None:
    choices = dict(SubscriptionForm().fields["min_severity"].choices)  # type: ignore[attr-defined]
    assert choices == {
        4: "Critical only",
        3: "High and above",
        2: "Medium and above",
        1: "Low and above",
        0: "Everything, info included",
    }


def test_a_change_of_scope_renders_its_fields_keeping_what_was_typed(
    client: Client, ana: Any, fleet: None
) -> None:
    url = reverse("alert-form")
    html = client.get(url, {"scope": "host", "time_zone": "Europe/Paris"}, HTTP_HX_REQUEST="true")
    body = html.content.decode()
    assert html.status_code == 200 and "<html" not in body
    assert names(body) == [
        "channel",
        "url",
        "scope",
        "host",
        "min_severity",
        "delivery",
        "quiet_start",
        "quiet_end",
        "time_zone",
    ]
    assert 'value="Europe/Paris"' in body
    assert '<option value="pay-1">pay-1</option>' in body
    assert "Choose a host to see what the subscription covers." in body

    team = client.get(url, {"scope": "label"}, HTTP_HX_REQUEST="true").content.decode()
    assert "host" not in names(team) and "team" in names(team)

    # Opened without htmx (no script, or a copied URL): the page, with the same choice.
    plain = client.get(url, {"scope": "label", "team": "web"})
    assert plain.status_code == 302 and plain["Location"] == "/alerts/?scope=label&team=web"


def test_the_preview_names_the_hosts_covered(client: Client, ana: Any, fleet: None) -> None:
    def preview(**query: str) -> str:
        answer = client.get(reverse("alert-preview"), query, HTTP_HX_REQUEST="true")
        assert answer.status_code == 200
        return " ".join(answer.content.decode().split())

    assert preview(scope="all") == "Matches 4 hosts: lab-1, pay-1, pay-2, web-1"
    assert preview(scope="label", team="payments") == "Matches 2 hosts: pay-1, pay-2"
    assert preview(scope="host", host="web-1") == "Matches 1 host: web-1"
    assert preview(scope="owner") == "Matches 1 host: lab-1"  # the account's own address
    assert preview(scope="filter", name_pattern="pay-*", label_selector="env=prod") == (
        "Matches 2 hosts: pay-1, pay-2"
    )
    assert preview(scope="filter", name_pattern="db-*").startswith("Matches no host today")
    assert preview(scope="label") == "Choose a team to see its hosts."
    assert preview(scope="filter", label_selector="nonsense").startswith("Give labels")


def test_the_preview_shows_five_names_and_counts_the_rest(
    client: Client, ana: Any, db: None
) -> None:
    for i in range(7):
        HostFactory(name=f"h-{i}", labels={"team": "big"})
    page = client.get(reverse("alerts"), {"team": "big"}).content.decode()
    assert "Matches 7 hosts: h-0, h-1, h-2, h-3, h-4, and 2 more" in " ".join(page.split())


def test_the_preview_stays_within_the_accounts_teams(client: Client, fleet: None) -> None:
    pay = Team.objects.create(name="Payments", label="payments")
    client.force_login(UserFactory(username="op", role="operator", role__teams=[pay]))
    for query in ({"scope": "all"}, {"scope": "filter", "label_selector": "env=prod"}):
        answer = client.get(reverse("alert-preview"), query, HTTP_HX_REQUEST="true")
        assert " ".join(answer.content.decode().split()) == "Matches 2 hosts: pay-1, pay-2"
    # Another team's host named in the URL is neither offered nor previewed.
    page = client.get(reverse("alerts"), {"host": "web-1"}).content.decode()
    assert 'value="web-1"' not in page and "Choose a host to see" in page


def test_a_host_link_prefills_the_form_and_subscribes_to_that_host(
    client: Client, ana: Any, fleet: None
) -> None:
    page = client.get(reverse("alerts"), {"host": "pay-2"}).content.decode()
    assert '<option value="host" selected>One host</option>' in page
    assert '<option value="pay-2" selected>pay-2</option>' in page
    assert "Matches 1 host: pay-2" in page

    saved = client.post(reverse("alerts"), {"scope": "host", "host": "pay-2", **COMMON})
    assert saved.status_code == 302
    sub = Subscription.objects.get(user=ana)
    assert (sub.scope, sub.host.name, sub.label_selector) == ("host", "pay-2", "")  # type: ignore[union-attr]
    assert "pay-2" in client.get(reverse("alerts")).content.decode()


def test_a_team_link_prefills_the_team(client: Client, ana: Any, fleet: None) -> None:
    page = client.get(reverse("alerts"), {"team": "web"}).content.decode()
    assert '<option value="label" selected>' in page
    assert '<option value="web" selected>team=web</option>' in page
    assert "Matches 1 host: web-1" in page
    # A team that does not exist is not selected: the form waits for a choice.
    page = client.get(reverse("alerts"), {"team": "nope"}).content.decode()
    assert "selected>team=" not in page and "Choose a team to see its hosts." in page


def test_prefill_reads_only_the_forms_fields() -> None:
    assert prefill({"host": "pay-1", "user": "3", "next": "//evil"}) == {
        "host": "pay-1",
        "scope": "host",
    }
    assert prefill({"team": "pay"}) == {"team": "pay", "scope": "label"}
    assert prefill({"scope": "all", "team": "pay"})["scope"] == "all"


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        ({"scope": "host"}, "host", "Choose the host."),
        ({"scope": "host", "host": "nowhere"}, "host", "Choose one of the hosts listed."),
        ({"scope": "label"}, "team", "Choose the team."),
        ({"scope": "filter"}, "name_pattern", "Give labels, a host name pattern, or both."),
    ],
)
def test_what_a_scope_needs_is_asked_for_by_name(
    fleet: None, data: dict[str, str], field: str, error: str
) -> None:
    form = SubscriptionForm({**data, **COMMON})
    assert not form.is_valid()
    assert form.errors[field] == [error]


def test_fields_of_another_scope_are_neither_checked_nor_saved(fleet: None) -> None:
    # A stale value of a scope no longer chosen (a browser's restored form, a crafted POST).
    form = SubscriptionForm(
        {"scope": "all", "host": "nowhere", "label_selector": "bad", "owner_email": "x", **COMMON}
    )
    assert form.is_valid(), form.errors
    form.instance.user = UserFactory(username="x")
    sub = form.save()
    assert (sub.host, sub.label_selector, sub.owner_email) == (None, "", "")

"""Trends and reports within an account's teams: the page's filters only narrow what the
account sees, a team outside it shows nothing of that team, and cached figures are kept per
account scope. Two teams, `pay` (one host scoring 90) and `web` (one host scoring 30)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from access.models import Team
from access.scope import Scope as AccessScope
from findings.models import Finding
from hosts.models import Host
from rules import Severity
from tests.factories import FindingFactory, HostFactory, ScoreSampleFactory, UserFactory
from tests.trends.conftest import at, days_ago
from trends import queries
from trends.dashboard import cached_trends_context
from trends.filters import TrendFilters
from trends.reports import build_report
from trends.rollup import rollup_by_labels_days, rollup_day, rollup_scores
from trends.scope import Scope
from vulndb.records import VulnSeverity
from vulns.models import VulnOccurrence

pytestmark = pytest.mark.django_db

PAY = AccessScope.of_teams(["pay"])


def team_host(team: str, score: int, criticals: int) -> Host:
    """A host of `team` scanned every day of the last three weeks, with `criticals` open
    critical findings and as many open critical image vulnerabilities."""
    host = HostFactory(name=f"{team}-host", labels={"team": team, "env": "prod"})
    for day in range(21, -1, -1):
        ScoreSampleFactory(host=host, taken_at=at(days_ago(day)), score=score, grade="A")
    for n in range(criticals):
        FindingFactory(
            host=host,
            subject_name=f"{team}-svc-{n}",
            severity=Severity.CRITICAL,
            opened_at=at(days_ago(10)),
        )
        VulnOccurrence.objects.create(
            host=host,
            vuln=f"CVE-2026-{team}-{n}",
            package_name="openssl",
            severity=VulnSeverity.CRITICAL,
            opened_at=at(days_ago(5)),
        )
    return host


@pytest.fixture
def two_teams() -> dict[str, Team]:
    team_host("pay", score=90, criticals=1)
    team_host("web", score=30, criticals=2)
    rollup_scores()
    return {
        "pay": Team.objects.create(name="Payments", label="pay"),
        "web": Team.objects.create(name="Web", label="web"),
    }


def signed_in(client: Client, role: str, teams: list[Team]) -> Client:
    client.force_login(UserFactory(role=role, role__teams=teams))
    return client


def critical_open(figures: list[Any]) -> int:
    return next(row.open for row in figures if row.severity == "critical")


# (role, its teams, the hosts' teams it sees)
ROLES = [
    ("viewer", ["pay"], {"pay"}),
    ("operator", ["pay"], {"pay"}),
    ("security", ["pay"], {"pay"}),
    ("viewer", ["pay", "web"], {"pay", "web"}),
    ("viewer", [], {"pay", "web"}),
    ("security", [], {"pay", "web"}),
    ("admin", [], {"pay", "web"}),
    ("operator", [], set()),
]


@pytest.mark.parametrize(("role", "teams", "sees"), ROLES)
def test_trends_page_shows_only_the_accounts_teams(
    client: Client, two_teams: dict[str, Team], role: str, teams: list[str], sees: set[str]
) -> None:
    signed_in(client, role, [two_teams[t] for t in teams])
    response = client.get("/trends/")
    assert response.status_code == 200
    context, html = response.context, response.content.decode()

    scores = {"pay": 90, "web": 30}
    expected = sum(scores[t] for t in sees) / len(sees) if sees else None
    current = context["current"]
    assert (current.mean if current else None) == expected
    assert {f.host.name for f in context["criticals"]} == {f"{t}-host" for t in sees}
    assert critical_open(context["vuln_figures"]) == sum({"pay": 1, "web": 2}[t] for t in sees)
    # The team menu names only the teams in view; other teams' hosts are not on the page.
    assert set(context["teams"]) == sees
    for team in {"pay", "web"} - sees:
        assert f"{team}-host" not in html and f'value="{team}"' not in html


@pytest.mark.parametrize(("role", "teams", "sees"), ROLES)
def test_report_page_shows_only_the_accounts_teams(
    client: Client, two_teams: dict[str, Team], role: str, teams: list[str], sees: set[str]
) -> None:
    signed_in(client, role, [two_teams[t] for t in teams])
    response = client.get("/reports/?period=week")
    assert response.status_code == 200
    report = response.context["report"]

    assert report.hosts == len(sees)
    scores = {"pay": 90, "web": 30}
    assert report.score == (round(sum(scores[t] for t in sees) / len(sees), 1) if sees else None)
    assert {f.host.name for f in report.criticals} == {f"{t}-host" for t in sees}
    assert critical_open(report.vulnerabilities) == sum({"pay": 1, "web": 2}[t] for t in sees)
    assert report.top_rules == [] or report.top_rules[0].hosts == len(sees)
    if "web" not in sees:
        assert "web-host" not in response.content.decode()


def test_a_team_filter_outside_the_accounts_teams_shows_nothing_and_says_why(
    client: Client, two_teams: dict[str, Team]
) -> None:
    signed_in(client, "viewer", [two_teams["pay"]])
    for url in ("/trends/?team=web", "/reports/?period=week&team=web"):
        response = client.get(url)
        html = response.content.decode()
        # The report refuses the request as a form would (400, the reason by the field).
        assert response.status_code == (200 if url.startswith("/trends/") else 400)
        assert "Team web is not one of your teams" in html, url
        assert "web-host" not in html
    trends = client.get("/trends/?team=web").context
    assert trends["current"] is None and trends["criticals"] == []
    assert critical_open(trends["vuln_figures"]) == 0
    assert "report" not in client.get("/reports/?period=week&team=web").context

    # A filter within the account's teams narrows as before.
    own = client.get("/trends/?team=pay").context
    assert own["current"].mean == 90 and own["refused_team"] == ""


def test_several_teams_and_no_filter_is_their_union_and_a_filter_narrows_it(
    two_teams: dict[str, Team],
) -> None:
    team_host("ops", score=10, criticals=0)  # a third team the account does not have
    # The fixture rolled the days up before this host's three weeks of history existed, and
    # a rollup only goes back to the last day it rolled (in production samples arrive
    # today, never in the past): roll the whole history again. (Rolling forward alone gave
    # this host yesterday only, which lies in the reported week on Mondays only.)
    for n in range(21, 0, -1):
        rollup_day(days_ago(n))
    rollup_by_labels_days(days_ago(21), days_ago(1))
    both = AccessScope.of_teams(["pay", "web"])
    assert build_report("week", access=both).score == 60.0
    assert build_report("week", "web", access=both).score == 30.0
    assert build_report("week").score == round((90 + 30 + 10) / 3, 1)


def test_the_rollups_and_the_raw_rows_agree_within_a_scope(two_teams: dict[str, Team]) -> None:
    """The scope reads rollups by their team column and raw rows through the hosts' labels:
    both ways must cut the fleet the same way."""
    scope = Scope.within(PAY)
    assert scope.teams == ("pay",) and not scope.whole_fleet
    assert list(scope.hosts().values_list("name", flat=True)) == ["pay-host"]
    today = days_ago(0)
    series = queries.fleet_series(scope, days_ago(3), today)
    assert {p.mean for p in series} == {90.0} and {p.hosts for p in series} == {1}
    open_pay = Finding.objects.filter(host__name="pay-host").count()
    assert queries.findings_totals(scope, days_ago(12), today)["opened"] == open_pay
    refused = Scope.within(PAY, team="web")
    assert refused.refused and not refused.hosts().exists()
    assert queries.fleet_series(refused, days_ago(3), today)[-1].mean is None


def test_cached_figures_are_never_shared_between_scopes(
    settings: Any, two_teams: dict[str, Team]
) -> None:
    settings.POSTURE_TRENDS_CACHE_SECONDS = 60
    cache.clear()
    filters = TrendFilters()
    web = AccessScope.of_teams(["web"])

    assert cached_trends_context(filters, PAY)["current"].mean == 90
    assert cached_trends_context(filters, web)["current"].mean == 30
    assert cached_trends_context(filters, AccessScope.everything())["current"].mean == 60

    # Kept per scope: a new pay host scanned today changes nothing until the entry expires.
    ScoreSampleFactory(
        host=HostFactory(name="pay-2", labels={"team": "pay"}), taken_at=at(days_ago(0)), score=50
    )
    assert cached_trends_context(filters, PAY)["current"].mean == 90
    assert cached_trends_context(filters, web)["current"].mean == 30
    cache.clear()
    assert cached_trends_context(filters, PAY)["current"].mean == 70


def test_two_accounts_on_the_same_url_get_their_own_cached_figures(
    settings: Any, two_teams: dict[str, Team]
) -> None:
    settings.POSTURE_TRENDS_CACHE_SECONDS = 60
    cache.clear()
    pay = signed_in(Client(), "viewer", [two_teams["pay"]])
    web = signed_in(Client(), "operator", [two_teams["web"]])
    pay_html = pay.get("/trends/").content.decode()
    web_html = web.get("/trends/").content.decode()
    assert "pay-host" in pay_html and "web-host" not in pay_html
    assert "web-host" in web_html and "pay-host" not in web_html


def test_an_unscoped_accounts_figures_are_unchanged(two_teams: dict[str, Team]) -> None:
    everything = Scope.within(AccessScope.everything())
    assert everything == Scope() and everything.whole_fleet
    assert Scope.within(AccessScope.everything(), team="web") == Scope(team="web")
    # A filter on an allowed team is that filter alone: the narrower condition.
    assert Scope.within(AccessScope.of_teams(["pay", "web"]), team="web") == Scope(team="web")
    assert Scope.within(AccessScope.of_teams([])).teams == ()

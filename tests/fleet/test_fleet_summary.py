"""The fleet page's summary strip (hosts per grade, open critical and high findings, the
last 24 hours) and its Δ 24 h column, within the account's scope, in words as well as
colours."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from access.models import Team
from access.scope import Scope
from fleet.queries import FleetPageFilters, fleet_page
from rules import Severity
from tests.factories import (
    FindingFactory,
    HostFactory,
    HostPostureFactory,
    ScoreSampleFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def make_fleet() -> None:
    """GIVEN alpha now 95 (80 two days ago), bravo now 41 (60 thirty hours ago), charlie
    first scanned two hours ago, delta of another team now 70 (70 yesterday); open
    findings: two critical (one of them accepted), one high, one medium; one opened and
    one resolved within the day."""
    now = timezone.now()
    alpha = HostFactory(name="alpha", labels={"team": "pay"})
    bravo = HostFactory(name="bravo", labels={"team": "pay"})
    charlie = HostFactory(name="charlie", labels={"team": "pay"})
    delta = HostFactory(name="delta", labels={"team": "web"})
    HostPostureFactory(host=alpha, score=95, grade="A")
    HostPostureFactory(host=bravo, score=41, grade="F")
    HostPostureFactory(host=charlie, score=75, grade="C")
    HostPostureFactory(host=delta, score=70, grade="C")
    ScoreSampleFactory(host=alpha, taken_at=now - timedelta(days=2), score=80)
    ScoreSampleFactory(host=alpha, taken_at=now - timedelta(hours=1), score=95)
    ScoreSampleFactory(host=bravo, taken_at=now - timedelta(hours=30), score=60)
    ScoreSampleFactory(host=charlie, taken_at=now - timedelta(hours=2), score=75)
    ScoreSampleFactory(host=delta, taken_at=now - timedelta(days=1, hours=1), score=70)
    old = now - timedelta(days=3)
    FindingFactory(host=bravo, severity=Severity.CRITICAL, opened_at=old)
    FindingFactory(host=bravo, severity=Severity.CRITICAL, opened_at=old, accepted=True)
    FindingFactory(host=bravo, severity=Severity.HIGH, opened_at=now - timedelta(hours=3))
    FindingFactory(host=alpha, severity=Severity.MEDIUM, opened_at=old)
    FindingFactory(
        host=alpha,
        severity=Severity.HIGH,
        opened_at=old,
        resolved_at=now - timedelta(hours=5),
    )
    FindingFactory(host=delta, severity=Severity.CRITICAL, opened_at=old)


def test_summary_counts_grades_open_findings_and_the_last_day():
    make_fleet()

    page = fleet_page(FleetPageFilters(), 1, Scope.everything(), summary=True)

    summary = page.summary
    assert summary is not None
    assert dict(summary.grades) == {"A": 1, "B": 0, "C": 2, "D": 0, "F": 1}
    # accepted findings left out, as the score leaves them out
    assert (summary.critical, summary.high) == (2, 1)
    assert (summary.regressed, summary.improved) == (1, 1)
    assert (summary.opened, summary.resolved) == (1, 1)
    assert {r.host.name: r.delta for r in page.rows} == {
        "alpha": 15,
        "bravo": -19,
        "charlie": None,  # no sample 24 h old: not a change of 0
        "delta": 0,
    }


def test_a_team_sees_the_summary_of_its_hosts_only():
    make_fleet()

    page = fleet_page(FleetPageFilters(), 1, Scope.of_teams(["web"]), summary=True)

    assert page.summary is not None
    assert dict(page.summary.grades)["C"] == 1 and page.summary.critical == 1
    assert (page.summary.regressed, page.summary.improved, page.summary.opened) == (0, 0, 0)


def test_the_page_shows_the_strip_the_delta_column_and_severity_in_words(client: Client):
    team = Team.objects.create(name="Payments", label="pay")
    client.force_login(UserFactory(role="viewer", role__teams=[team]))
    make_fleet()

    html = client.get(reverse("fleet")).content.decode()

    strip = re.search(r'<section class="fleet-summary".*?</section>', html, re.S).group(0)
    assert "Hosts per grade" in strip and 'href="?grade=F"' in strip
    assert re.search(r"1</span>\s*critical", strip) and re.search(r"1</span>\s*high", strip)
    assert "1 host regressed" in strip and "1 host improved" in strip
    assert "1 finding opened" in strip and "1 finding resolved" in strip
    assert ">delta</a>" not in html  # another team's host, in neither the table nor the strip
    assert "Δ 24 h" in html
    cells = re.findall(r'<td class="col-delta num">\s*(.*?)\s*</td>', html, re.S)
    assert [re.sub(r"<[^>]+>", "", c).strip() for c in cells] == ["-19", "—", "+15"]
    # the legend names each colour, and each count says its severity to a screen reader
    assert 'class="sev-legend"' in html
    assert '<span class="visually-hidden"> critical</span>' in html


def test_an_htmx_swap_of_the_table_does_not_compute_the_strip(client: Client):
    client.force_login(UserFactory())
    make_fleet()

    response = client.get(reverse("fleet"), {"q": "a"}, headers={"HX-Request": "true"})

    assert response.context["summary"] is None
    assert "fleet-summary" not in response.content.decode()


def test_the_strip_is_kept_a_few_seconds_per_scope(client: Client, settings: Any):
    """GIVEN the counters' cache on, WHEN the page is loaded twice, THEN the second load
    reads no findings for the strip, and another team's account gets its own strip."""
    settings.POSTURE_HEADER_COUNTS_SECONDS = 15
    cache.clear()
    client.force_login(UserFactory())
    make_fleet()

    with CaptureQueriesContext(connection) as first:
        client.get(reverse("fleet"))
    with CaptureQueriesContext(connection) as second:
        again = client.get(reverse("fleet"))

    assert len(second) == len(first) - 1
    assert again.context["summary"].critical == 2
    web = fleet_page(FleetPageFilters(), 1, Scope.of_teams(["web"]), summary=True)
    assert web.summary is not None and web.summary.critical == 1
    cache.clear()

"""The report of a chosen period: the picker's keys and errors, lists that belong to the
period, first scans as baselines, and the empty state that says from when data exists."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.test import Client
from django.utils import formats, timezone

from rules import Severity
from tests.factories import FindingFactory, HostFactory, ScoreSampleFactory, UserFactory
from tests.trends.conftest import at, days_ago
from trends import periods
from trends.periods import PeriodError, containing, last_complete
from trends.reports import build_report
from trends.rollup import rollup_scores

TODAY = date(2025, 12, 7)


@pytest.mark.parametrize(
    "kind, text, key",
    [
        ("week", "2025-W45", "2025-W45"),
        ("month", "2025-11", "2025-11"),
        ("month", "2025-3", "2025-03"),
        ("quarter", "2025-q3", "2025-Q3"),
        # another kind's key: the period of this kind holding its first day
        ("week", "2025-11", "2025-W44"),
        ("month", "2025-W45", "2025-11"),
        # switching kinds from a recent period lands on the newest complete one
        ("quarter", "2025-11", "2025-Q3"),
    ],
)
def test_a_period_key_is_read_for_its_kind(kind: str, text: str, key: str):
    assert periods.parse(kind, text, TODAY).key == key


@pytest.mark.parametrize(
    "kind, text, message",
    [
        ("month", "2025-13", "“2025-13” is not a month. Write it as 2026-11."),
        ("month", "november", "“november” is not a month. Write it as 2026-11."),
        ("week", "2025-W54", "“2025-W54” is not a week. Write it as 2026-W45."),
        ("quarter", "2025-Q5", "“2025-Q5” is not a quarter. Write it as 2026-Q4."),
        ("month", "2025-12", "December 2025 is not over yet: its report can be read from"),
        ("week", "2025-W49", "is not over yet"),
    ],
)
def test_a_bad_or_running_period_is_refused_in_words(kind: str, text: str, message: str):
    with pytest.raises(PeriodError) as error:
        periods.parse(kind, text, TODAY)

    assert message in str(error.value)


def test_the_choices_are_the_complete_periods_since_the_first_day_with_data():
    months = periods.available("month", date(2025, 9, 20), TODAY)

    assert [p.key for p in months] == ["2025-11", "2025-10", "2025-09"]
    assert periods.available("month", None, TODAY) == []
    assert periods.available("quarter", date(2025, 11, 2), TODAY) == []
    assert periods.label(months[0]) == "November 2025"
    assert periods.label(containing("quarter", TODAY)) == "Q4 2025"
    assert periods.label(last_complete("week", TODAY)).startswith("week 48 of 2025 (")


@pytest.mark.django_db
def test_a_november_report_lists_novembers_findings_and_first_scans_as_baselines():
    """GIVEN alpha scanned since October, with a critical opened on 10 November, one on 7
    December, one resolved on 20 November and one open through November (resolved 2
    December); bravo first scanned on 12 November with 3 findings, then one more on the
    20th. WHEN November's report is built on 7 December, THEN 2 findings were opened (the
    baseline of 3 said apart), 1 resolved, and the lists hold November's findings only."""
    alpha = HostFactory(name="alpha")
    bravo = HostFactory(name="bravo")
    ScoreSampleFactory(host=alpha, taken_at=at(date(2025, 10, 15)), score=60)
    ScoreSampleFactory(host=alpha, taken_at=at(date(2025, 11, 28)), score=70)
    first_scan = at(date(2025, 11, 12), 10)
    ScoreSampleFactory(host=bravo, taken_at=first_scan, score=40)
    F = FindingFactory
    F(host=alpha, rule_id="NOV-CRIT", opened_at=at(date(2025, 11, 10)))
    F(host=alpha, rule_id="DEC-CRIT", opened_at=at(date(2025, 12, 7), 1))
    F(
        host=alpha,
        rule_id="NOV-FIXED",
        severity=Severity.HIGH,
        opened_at=at(date(2025, 10, 20)),
        resolved_at=at(date(2025, 11, 20)),
    )
    F(
        host=alpha,
        rule_id="OPEN-THROUGH",
        opened_at=at(date(2025, 10, 16)),
        resolved_at=at(date(2025, 12, 2)),
    )
    for _ in range(3):
        F(host=bravo, rule_id="BASELINE", severity=Severity.MEDIUM, opened_at=first_scan)
    F(host=bravo, rule_id="LATER", severity=Severity.LOW, opened_at=at(date(2025, 11, 20)))
    rollup_scores(TODAY)

    november = periods.parse("month", "2025-11", TODAY)
    report = build_report("month", today=TODAY, period=november)

    assert report.period.key == "2025-11"
    assert (report.opened, report.resolved) == (2, 1)
    assert [(b.host, b.findings) for b in report.baselines] == [("bravo", 3)]
    assert [(line.rule_id, line.host) for line in report.opened_list] == [
        ("NOV-CRIT", "alpha"),
        ("LATER", "bravo"),
    ]
    assert [line.rule_id for line in report.resolved_list] == ["NOV-FIXED"]
    assert [f.rule_id for f in report.criticals] == ["OPEN-THROUGH", "NOV-CRIT"]


@pytest.fixture
def admin(client: Client) -> Client:
    client.force_login(UserFactory())
    return client


@pytest.mark.django_db
def test_a_chosen_month_is_shown_and_offered_in_the_picker(admin: Client):
    host = HostFactory(name="alpha", labels={"team": "pay"})
    ScoreSampleFactory(host=host, taken_at=at(days_ago(70)), score=50)
    ScoreSampleFactory(host=host, taken_at=at(days_ago(40)), score=60)
    rollup_scores()
    month = containing("month", days_ago(40))

    response = admin.get("/reports/", {"period": "month", "start": month.key, "team": "pay"})
    html = response.content.decode()

    assert response.status_code == 200
    assert f"Security posture {month.key} " in html
    assert f'<option value="{month.key}" selected>{periods.label(month)}</option>' in html
    assert f'<option value="{containing("month", days_ago(70)).key}">' in html
    assert '<button type="button" class="button" data-print hidden>Print</button>' in html


@pytest.mark.django_db
@pytest.mark.parametrize("htmx", [False, True])
def test_a_bad_period_value_is_refused_beside_the_field(admin: Client, htmx: bool):
    headers = {"HX-Request": "true"} if htmx else {}

    response = admin.get("/reports/", {"period": "month", "start": "2025-13"}, headers=headers)
    html = response.content.decode()

    assert response.status_code == (422 if htmx else 400)
    assert "“2025-13” is not a month. Write it as 2026-11." in html
    assert 'aria-invalid="true" aria-describedby="report-start-error"' in html
    assert 'id="report-body"' not in html
    if htmx:
        assert html.lstrip().startswith('<div id="report-main">')


@pytest.mark.django_db
def test_a_running_period_and_an_unknown_team_are_refused(admin: Client):
    HostFactory(name="alpha", labels={"team": "pay"})
    current = containing("month", timezone.localdate())

    running = admin.get("/reports/", {"period": "month", "start": current.key})
    typo = admin.get("/reports/", {"period": "week", "team": "pya"})

    assert running.status_code == 400
    assert "is not over yet: its report can be read from" in running.content.decode()
    assert typo.status_code == 400
    assert "No host has the team pya. Choose one of the teams in the list." in (
        typo.content.decode()
    )


@pytest.mark.django_db
def test_a_period_without_data_says_from_when_data_exists_and_links_there(admin: Client):
    host = HostFactory(name="alpha")
    first = days_ago(40)
    ScoreSampleFactory(host=host, taken_at=at(first), score=50)
    rollup_scores()
    first_month = containing("month", first)

    html = admin.get("/reports/", {"period": "month", "start": "2020-01"}).content.decode()

    assert "No data for this period." in html
    assert f"Data exists from {formats.date_format(first, 'DATE_FORMAT')}." in html
    assert f'href="/reports/?period=month&amp;start={first_month.key}&amp;team="' in html
    assert 'id="report-opened"' not in html  # no empty tables under an empty period


@pytest.mark.django_db
def test_a_fleet_never_scanned_says_so(admin: Client):
    html = admin.get("/reports/").content.decode()

    assert "No data for this period." in html
    assert "No host in this selection has been scanned yet." in html


def test_today_is_not_a_report_day():
    """The week holding today is never offered: its report is not written yet."""
    today = timezone.localdate()
    keys = [p.key for p in periods.available("week", today - timedelta(days=30), today)]

    assert containing("week", today).key not in keys
    assert keys[0] == last_complete("week", today).key

"""Report periods and the report built for one."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from rules import Severity
from tests.factories import FindingFactory, HostFactory, ScoreSampleFactory
from tests.trends.conftest import at
from trends.periods import containing, last_complete
from trends.reports import build_report
from trends.rollup import rollup_scores


@pytest.mark.parametrize(
    "kind, today, key, start, end",
    [
        ("week", date(2025, 1, 6), "2025-W01", date(2024, 12, 30), date(2025, 1, 6)),
        ("week", date(2025, 1, 12), "2025-W01", date(2024, 12, 30), date(2025, 1, 6)),
        ("month", date(2025, 3, 1), "2025-02", date(2025, 2, 1), date(2025, 3, 1)),
        ("month", date(2025, 1, 31), "2024-12", date(2024, 12, 1), date(2025, 1, 1)),
        ("quarter", date(2025, 4, 1), "2025-Q1", date(2025, 1, 1), date(2025, 4, 1)),
        ("quarter", date(2025, 3, 31), "2024-Q4", date(2024, 10, 1), date(2025, 1, 1)),
    ],
)
def test_last_complete_period(kind: str, today: date, key: str, start: date, end: date):
    period = last_complete(kind, today)

    assert (period.key, period.start, period.end) == (key, start, end)


def test_previous_period():
    assert containing("quarter", date(2025, 2, 10)).previous().key == "2024-Q4"
    assert containing("month", date(2025, 1, 10)).previous().key == "2024-12"


@pytest.mark.django_db
def test_weekly_report_headline_grades_rules_and_findings():
    """GIVEN a week (Mon 2025-03-10 .. Sun 16) where alpha ends at 80 (B) after 40 and bravo
    at 60 (D) while the week before both were at 50, WHEN the report is built on the Monday
    after, THEN the headline is 70, +20 vs 50, grades B 1 and D 1, and findings counted."""
    today = date(2025, 3, 17)
    alpha = HostFactory(name="alpha", labels={"team": "payments"})
    bravo = HostFactory(name="bravo", labels={"team": "payments"})
    other = HostFactory(name="other", labels={"team": "web"})
    ScoreSampleFactory(host=alpha, taken_at=at(date(2025, 3, 11)), score=40, grade="F")
    ScoreSampleFactory(host=alpha, taken_at=at(date(2025, 3, 16)), score=80, grade="B")
    ScoreSampleFactory(host=bravo, taken_at=at(date(2025, 3, 12)), score=60, grade="D")
    ScoreSampleFactory(host=other, taken_at=at(date(2025, 3, 12)), score=10, grade="F")
    for host in (alpha, bravo):
        ScoreSampleFactory(host=host, taken_at=at(date(2025, 3, 5)), score=50, grade="F")
    FindingFactory(host=alpha, rule_id="R1", opened_at=at(date(2025, 3, 1)))
    FindingFactory(host=bravo, rule_id="R1", opened_at=at(date(2025, 3, 11)))
    FindingFactory(
        host=bravo,
        rule_id="R2",
        severity=Severity.LOW,
        opened_at=at(date(2025, 3, 2)),
        resolved_at=at(date(2025, 3, 12)),
    )
    FindingFactory(host=other, rule_id="R3", opened_at=at(date(2025, 3, 11)))
    rollup_scores(today)

    report = build_report("week", "payments", today)

    assert report.period.key == "2025-W11"
    assert (report.score, report.previous_score, report.delta, report.hosts) == (
        70.0,
        50.0,
        20.0,
        2,
    )
    assert dict(report.grades) == {"A": 0, "B": 1, "C": 0, "D": 1, "F": 0}
    assert [(r.rule_id, r.hosts) for r in report.top_rules] == [("R1", 2)]
    assert (report.opened, report.resolved) == (1, 1)
    low = next(r for r in report.mttr if r.severity == Severity.LOW)
    assert (low.resolved, low.mean) == (1, timedelta(days=10))
    assert [p.mean for p in report.series] == [None, 40.0, 60.0, None, None, None, 80.0]

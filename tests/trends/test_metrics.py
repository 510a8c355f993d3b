"""Each trend metric on small hand-made data with chosen timestamps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from rules import Severity
from tests.factories import FindingFactory, HostFactory, ScoreSampleFactory
from tests.trends.conftest import at, days_ago
from trends import queries
from trends.models import DailyScore
from trends.rollup import rollup_scores
from trends.scope import Scope, label_values

pytestmark = pytest.mark.django_db


def test_fleet_score_is_the_daily_mean_of_each_hosts_last_sample():
    """GIVEN alpha scanned twice on day 3 (50 then 70) and bravo once (90), and only alpha
    on day 2, WHEN the series is read, THEN day 3 is (70 + 90) / 2, day 2 is alpha's, and a
    day without samples is None rather than zero."""
    alpha, bravo = HostFactory(name="alpha"), HostFactory(name="bravo")
    ScoreSampleFactory(host=alpha, taken_at=at(days_ago(3), 8), score=50)
    ScoreSampleFactory(host=alpha, taken_at=at(days_ago(3), 20), score=70)
    ScoreSampleFactory(host=bravo, taken_at=at(days_ago(3), 9), score=90)
    ScoreSampleFactory(host=alpha, taken_at=at(days_ago(2), 23, 59), score=60)
    ScoreSampleFactory(host=alpha, taken_at=at(days_ago(0), 0, 1), score=40)

    assert rollup_scores() == 3  # days 3, 2, 1 rolled; today is read live
    series = queries.fleet_series(Scope(), days_ago(4), days_ago(0))

    assert [(p.mean, p.hosts) for p in series] == [
        (None, 0),
        (80.0, 2),
        (60.0, 1),
        (None, 0),
        (40.0, 1),
    ]


def test_rollup_is_idempotent_and_corrects_a_day():
    host = HostFactory()
    ScoreSampleFactory(host=host, taken_at=at(days_ago(1), 10), score=70)
    rollup_scores()
    ScoreSampleFactory(host=host, taken_at=at(days_ago(1), 11), score=75)  # a late scan

    rollup_scores()

    assert list(DailyScore.objects.values_list("day", "score")) == [(days_ago(1), 75)]


def test_scope_filters_by_team_and_env_labels():
    pay = HostFactory(labels={"team": "payments", "env": "prod"})
    pay_stg = HostFactory(labels={"team": "payments", "env": "staging"})
    web = HostFactory(labels={"team": "web", "env": "prod"})
    for host, score in ((pay, 90), (pay_stg, 70), (web, 10)):
        ScoreSampleFactory(host=host, taken_at=at(days_ago(1)), score=score)
    rollup_scores()

    def mean(scope: Scope) -> float | None:
        return queries.fleet_series(scope, days_ago(1), days_ago(1))[0].mean

    assert mean(Scope()) == pytest.approx(170 / 3)
    assert mean(Scope(team="payments")) == 80
    assert mean(Scope(team="payments", env="prod")) == 90
    assert mean(Scope(env="prod")) == 50
    assert mean(Scope(team="nobody")) is None
    assert label_values("team") == ["payments", "web"]


def test_comparisons_against_30_and_365_days_before():
    host, other = HostFactory(), HostFactory()
    today = timezone.localdate()
    DailyScore.objects.create(
        host=host, day=today - timedelta(days=30), score=60, taken_at=at(today)
    )
    DailyScore.objects.create(
        host=other, day=today - timedelta(days=30), score=70, taken_at=at(today)
    )
    ScoreSampleFactory(host=host, taken_at=timezone.now(), score=80)
    rollup_scores()
    series = queries.fleet_series(Scope(), today, today)

    month, year = queries.comparisons(Scope(), series[-1])

    assert (month.label, month.value, month.delta) == ("month", 65.0, 15.0)
    assert (year.label, year.value, year.delta) == ("year", None, None)


def test_rule_pass_rate_counts_hosts_with_the_finding_open_at_the_end_of_the_day():
    """GIVEN four hosts sampled on day 8 and on day 1; on day 8 two of them have R open, by
    day 1 one finding was resolved and another host's opened after day 1 ended."""
    hosts = [HostFactory() for _ in range(4)]
    for host in hosts:
        for day in (8, 1):
            ScoreSampleFactory(host=host, taken_at=at(days_ago(day)))
    FindingFactory(host=hosts[0], rule_id="R", opened_at=at(days_ago(20)))
    FindingFactory(
        host=hosts[1], rule_id="R", opened_at=at(days_ago(9)), resolved_at=at(days_ago(3))
    )
    FindingFactory(host=hosts[2], rule_id="R", opened_at=at(days_ago(0), 0, 5))
    FindingFactory(host=hosts[0], rule_id="R", subject_key="second", opened_at=at(days_ago(10)))
    rollup_scores()
    series = queries.fleet_series(Scope(), days_ago(8), days_ago(1))

    rates = queries.rule_pass_rates(Scope(), ["R", "UNSEEN"], series)

    assert rates["R"] == [(days_ago(8), 0.5), (days_ago(1), 0.75)]
    assert rates["UNSEEN"] == [(days_ago(8), 1.0), (days_ago(1), 1.0)]


def test_findings_opened_and_resolved_per_week():
    monday = timezone.localdate() - timedelta(days=timezone.localdate().weekday() + 14)
    FindingFactory(opened_at=at(monday, 1))
    FindingFactory(
        opened_at=at(monday + timedelta(days=6), 23),
        resolved_at=at(monday + timedelta(days=7), 0, 30),
    )
    FindingFactory(
        opened_at=at(monday - timedelta(days=30)), resolved_at=at(monday + timedelta(days=8))
    )
    rollup_scores()

    flow = queries.findings_flow(Scope(), monday, monday + timedelta(days=13))

    assert [(w.week, w.opened, w.resolved) for w in flow] == [
        (monday, 2, 0),
        (monday + timedelta(days=7), 0, 2),
    ]


def test_mean_time_to_remediate_by_severity_over_a_period():
    """GIVEN two highs resolved in the period after 1 and 3 days, one resolved before it
    and an open critical, WHEN MTTR is read over the period, THEN highs average 2 days."""
    first = days_ago(10)
    for days in (1, 3):
        FindingFactory(
            severity=Severity.HIGH,
            opened_at=at(days_ago(9)),
            resolved_at=at(days_ago(9)) + timedelta(days=days),
        )
    FindingFactory(severity=Severity.HIGH, opened_at=at(days_ago(50)), resolved_at=at(days_ago(11)))
    FindingFactory(severity=Severity.CRITICAL, opened_at=at(first))  # still open: not counted
    rollup_scores()

    rows = {r.severity: r for r in queries.mttr(Scope(), first, days_ago(0))}

    assert rows[Severity.HIGH].resolved == 2
    assert rows[Severity.HIGH].mean == timedelta(days=2)
    assert rows[Severity.HIGH].days == pytest.approx(2.0)
    assert rows[Severity.CRITICAL].resolved == 0
    assert rows[Severity.CRITICAL].mean is None
    assert Severity.INFO not in rows


def test_oldest_open_criticals_first_and_only_open_criticals():
    now = timezone.now()
    old = FindingFactory(severity=Severity.CRITICAL, opened_at=now - timedelta(days=90))
    new = FindingFactory(severity=Severity.CRITICAL, opened_at=now - timedelta(days=2))
    FindingFactory(severity=Severity.CRITICAL, opened_at=now - timedelta(days=200), resolved_at=now)
    FindingFactory(severity=Severity.HIGH, opened_at=now - timedelta(days=300))
    # Accepted by a risk exception: it left the score, so it leaves the list.
    FindingFactory(severity=Severity.CRITICAL, opened_at=now - timedelta(days=120), accepted=True)

    assert queries.oldest_criticals(Scope()) == [old, new]

"""The finding rollups: for past days they answer what the findings themselves answer
(trends.live, the definitions), today is read live, and a day re-rolled is corrected."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from django.db.models import Avg, Count
from django.utils import timezone

from rules import Severity
from tests.factories import FindingFactory, HostFactory, ScoreSampleFactory
from tests.trends.conftest import at, days_ago
from trends import live, queries, rollup
from trends.models import DailyFindingFlow, DailyFleetScore, DailyRuleFailing, DailyScore
from trends.rollup import rollup_by_labels, rollup_scores
from trends.scope import Scope, day_start

pytestmark = pytest.mark.django_db

SCOPES = [
    Scope(),
    Scope(team="payments"),
    Scope(env="prod"),
    Scope(team="payments", env="prod"),
    Scope(team="web", env="staging"),
    Scope(team="nobody"),
]


@pytest.fixture(params=["UTC", "Pacific/Auckland"])
def zone(request: pytest.FixtureRequest, settings: Any) -> str:
    """Local days far from UTC's too: the rollups' days (TruncDate) must be day_start's."""
    settings.TIME_ZONE = request.param
    return str(request.param)


def when(n: int, hour: int, minute: int = 0) -> datetime:
    """`hour`:`minute` on the day n days ago; today's are squeezed into the part of the day
    already gone, so that nothing happens in the future whenever the test runs."""
    if n:
        return at(days_ago(n), hour, minute)
    midnight = day_start(timezone.localdate())
    return midnight + (timezone.now() - midnight) * (hour * 60 + minute + 1) / (24 * 60 + 1)


def make_history() -> None:
    """GIVEN four hosts (two teams, two envs, one without labels) sampled on most days,
    and findings of three rules and several severities opened and resolved across twelve
    days, some at either edge of a local day, some still open, some opened or resolved
    today."""
    hosts = [
        HostFactory(name="pay-prod", labels={"team": "payments", "env": "prod"}),
        HostFactory(name="pay-stg", labels={"team": "payments", "env": "staging"}),
        HostFactory(name="web-prod", labels={"team": "web", "env": "prod", "region": "eu"}),
        HostFactory(name="bare", labels={}),
    ]
    for i, host in enumerate(hosts):
        for n in range(13):
            if (n + i) % 5:  # each host misses a few days
                ScoreSampleFactory(host=host, taken_at=when(n, 6 + i))
    rules = [("R1", Severity.HIGH), ("R2", Severity.CRITICAL), ("R3", Severity.LOW)]
    spans = [  # (opened days ago, hour, resolved days ago or None, hour)
        (15, 10, 9, 8),
        (12, 0, 11, 23),
        (11, 23, None, 0),
        (10, 12, 10, 13),
        (9, 0, 2, 0),
        (8, 6, 0, 1),
        (7, 23, None, 0),
        (5, 12, 3, 12),
        (3, 1, 1, 23),
        (1, 23, 0, 2),
        (0, 1, None, 0),
        (0, 2, 0, 3),
    ]
    for h, host in enumerate(hosts):
        for s, (opened, o_hour, resolved, r_hour) in enumerate(spans):
            if (h + s) % 3 == 0:
                continue
            rule, severity = rules[(h + s) % len(rules)]
            FindingFactory(
                host=host,
                rule_id=rule,
                severity=severity,
                opened_at=when(opened, o_hour, 5 * h),
                resolved_at=None if resolved is None else when(resolved, r_hour, 5 * s),
            )
    # Opened and resolved at midnight sharp, under a rule of its own so that no other
    # finding hides it: open at the end of days 7 to 5 ago, not of day 4 ago.
    FindingFactory(
        host=hosts[1],
        rule_id="EDGE",
        severity=Severity.MEDIUM,
        opened_at=at(days_ago(6), 0),
        resolved_at=at(days_ago(4), 0),
    )


def expected_flow(scope: Scope, first: date, last: date) -> list[queries.WeekFlow]:
    found = live.flow_by_week(scope, first, last)
    monday, weeks = first - timedelta(days=first.weekday()), []
    while monday <= last:
        opened, resolved = found.get(monday, [0, 0])
        weeks.append(queries.WeekFlow(monday, opened, resolved))
        monday += timedelta(days=7)
    return weeks


def expected_series(scope: Scope, first: date, last: date) -> list[queries.DayPoint]:
    """The fleet score from each host's DailyScore row (past days) and samples (today)."""
    rows = (
        scope.apply(DailyScore.objects.filter(day__gte=first, day__lte=last))
        .values("day")
        .annotate(mean=Avg("score"), hosts=Count("score"))
    )
    found = {r["day"]: (float(r["mean"]), r["hosts"]) for r in rows}
    today = timezone.localdate()
    tomorrow = day_start(today + timedelta(days=1))
    now = queries.latest_samples(scope, day_start(today), tomorrow).aggregate(
        mean=Avg("score"), hosts=Count("score")
    )
    if now["hosts"]:
        found[today] = (float(now["mean"]), now["hosts"])
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [queries.DayPoint(day, *found.get(day, (None, 0))) for day in days]


@pytest.mark.parametrize("scope", SCOPES, ids=str)
def test_rolled_up_fleet_scores_equal_the_per_host_definition(scope: Scope, zone: str):
    make_history()
    rollup_scores()
    today = timezone.localdate()

    series = queries.fleet_series(scope, days_ago(12), today)

    assert series == pytest.approx(expected_series(scope, days_ago(12), today))
    # A current point 20 days ahead, so that its month-ago day is in the history.
    month = queries.comparisons(scope, queries.DayPoint(today + timedelta(days=20), 50.0, 1))[0]
    assert month.value == pytest.approx(expected_series(scope, days_ago(10), days_ago(10))[0].mean)
    if scope.whole_fleet:
        assert all(p.hosts for p in series) and month.value is not None


@pytest.mark.parametrize("scope", SCOPES, ids=str)
def test_rolled_up_flow_mttr_and_totals_equal_the_live_definitions(scope: Scope, zone: str):
    make_history()
    rollup_scores()
    today = timezone.localdate()

    assert queries.findings_flow(scope, days_ago(12), today) == expected_flow(
        scope, days_ago(12), today
    )
    for first, last in (
        (days_ago(12), days_ago(1)),
        (days_ago(9), days_ago(3)),
        (days_ago(12), today),
    ):
        end = min(timezone.now(), day_start(last + timedelta(days=1)))
        assert queries.findings_totals(scope, first, last) == live.findings_totals(
            scope, day_start(first), end
        )
        sums = live.remediation(scope, day_start(first), end)
        for row in queries.mttr(scope, first, last):
            n, time = sums.get(int(row.severity), (0, timedelta()))
            assert (row.resolved, row.mean) == (n, time / n if n else None), row


@pytest.mark.parametrize("scope", SCOPES, ids=str)
def test_rolled_up_rules_failing_at_the_end_of_a_day_equal_the_live_definition(
    scope: Scope, zone: str
):
    make_history()
    rollup_scores()

    for n in range(1, 13):
        day = days_ago(n)
        expected = live.failing_rules(scope, day_start(day + timedelta(days=1)))
        assert queries.failing_at_end(scope, day) == expected, day


@pytest.mark.parametrize("scope", SCOPES, ids=str)
def test_rolled_up_pass_rates_equal_the_live_definition(scope: Scope, zone: str):
    make_history()
    rollup_scores()
    series = queries.fleet_series(scope, days_ago(12), timezone.localdate())
    rules = ["R1", "R2", "R3", "UNSEEN"]

    rates = queries.rule_pass_rates(scope, rules, series, step=1)

    series = expected_series(scope, days_ago(12), timezone.localdate())

    ends = [min(timezone.now(), day_start(p.day + timedelta(days=1))) for p in series]
    failing = live.failing_hosts(scope, rules, ends)
    for rule in rules:
        assert rates[rule] == [
            (p.day, max(0.0, 1 - failed / p.hosts) if p.hosts else None)
            for p, failed in zip(series, failing[rule], strict=True)
        ], rule


def test_today_is_read_live_without_a_new_rollup():
    """GIVEN days rolled up, WHEN findings open and resolve today, THEN the flow, MTTR,
    totals and pass rate see them at once."""
    host = HostFactory(labels={"team": "payments"})
    ScoreSampleFactory(host=host, taken_at=at(days_ago(1)))
    ScoreSampleFactory(host=host, taken_at=timezone.now())
    rollup_scores()
    now = timezone.now()
    FindingFactory(host=host, rule_id="R1", severity=Severity.HIGH, opened_at=now)
    FindingFactory(
        host=host,
        rule_id="R2",
        severity=Severity.HIGH,
        opened_at=at(days_ago(3)),
        resolved_at=now,
    )
    today, scope = timezone.localdate(), Scope(team="payments")

    flow = queries.findings_flow(scope, today, today)
    high = next(r for r in queries.mttr(scope, today, today) if r.severity == Severity.HIGH)
    series = queries.fleet_series(scope, today, today)

    assert [(w.opened, w.resolved) for w in flow] == [(1, 1)]
    assert queries.findings_totals(scope, today, today) == {"opened": 1, "resolved": 1}
    assert (high.resolved, high.mean) == (1, now - at(days_ago(3)))
    assert queries.rule_pass_rates(scope, ["R1", "R2"], series) == {
        "R1": [(today, 0.0)],
        "R2": [(today, 1.0)],
    }


def test_history_keeps_the_labels_a_host_had_when_its_days_were_rolled():
    """GIVEN a host's past findings rolled up under team payments, WHEN the host moves to
    team web, THEN its past stays with payments and its today goes with web."""
    host = HostFactory(labels={"team": "payments"})
    FindingFactory(host=host, opened_at=at(days_ago(3)), resolved_at=at(days_ago(2)))
    rollup_scores()
    host.labels = {"team": "web"}
    host.save()
    FindingFactory(host=host, opened_at=timezone.now())

    def totals(team: str) -> dict[str, int]:
        return queries.findings_totals(Scope(team=team), days_ago(3), timezone.localdate())

    assert totals("payments") == {"opened": 1, "resolved": 1}
    assert totals("web") == {"opened": 1, "resolved": 0}


def test_rollup_is_idempotent_and_a_re_rolled_day_is_corrected():
    host = HostFactory()
    for n in (2, 1):
        ScoreSampleFactory(host=host, taken_at=at(days_ago(n)))
    finding = FindingFactory(host=host, rule_id="R1", opened_at=at(days_ago(2)))
    rollup_scores()
    rows = sorted(DailyRuleFailing.objects.values_list("day", "rule_id", "hosts"))
    assert rollup_by_labels() == 1  # yesterday again: the last rolled day may have been partial
    assert sorted(DailyRuleFailing.objects.values_list("day", "rule_id", "hosts")) == rows

    finding.resolved_at = at(days_ago(1), 10)  # a late scan's news about yesterday
    finding.save()
    rollup_by_labels()

    assert queries.failing_at_end(Scope(), days_ago(1)) == []
    assert DailyFindingFlow.objects.get(day=days_ago(1)).resolved == 1
    assert DailyFindingFlow.objects.get(day=days_ago(2)).opened == 1


def test_now_figures_leave_out_risk_accepted_findings():
    hosts = [HostFactory() for _ in range(3)]
    for host in hosts:
        FindingFactory(host=host, rule_id="R1", severity=Severity.HIGH)
    FindingFactory(host=hosts[0], rule_id="R2", severity=Severity.LOW)
    FindingFactory(host=hosts[1], rule_id="R2", severity=Severity.LOW, accepted=True)
    FindingFactory(host=hosts[2], rule_id="R3", accepted=True)
    FindingFactory(host=hosts[2], rule_id="R1", resolved_at=timezone.now())

    assert queries.failing_now(Scope()) == [
        {"rule_id": "R1", "hosts": 3, "severity": Severity.HIGH},
        {"rule_id": "R2", "hosts": 1, "severity": Severity.LOW},
    ]


def test_rolling_in_batches_writes_the_same_rows(monkeypatch: pytest.MonkeyPatch):
    make_history()
    rollup_scores()
    whole = rollup_rows()
    for model in (DailyFleetScore, DailyFindingFlow, DailyRuleFailing):
        model.objects.all().delete()
    monkeypatch.setattr(rollup, "BATCH_DAYS", 4)

    assert rollup_by_labels() == 15  # from the first finding, 15 days ago, to yesterday

    assert rollup_rows() == whole


def rollup_rows() -> list[list[tuple[object, ...]]]:
    scores = DailyFleetScore.objects.values_list("day", "team", "env", "hosts", "score_sum")
    flows = DailyFindingFlow.objects.values_list(
        "day", "team", "env", "severity", "opened", "resolved", "resolved_time"
    )
    failing = DailyRuleFailing.objects.values_list(
        "day", "team", "env", "rule_id", "severity", "hosts"
    )
    return [sorted(scores), sorted(flows), sorted(failing)]

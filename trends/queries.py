"""Read-side queries for trends and reports: every metric is aggregated by the database.

Each function costs a fixed number of statements whatever the fleet size (tests/trends
pins that down). Past days are read from the daily rollups (trends.rollup), today, the
live and partial day, from the raw rows (trends.live), so a 90-day chart reads a few
thousand rollup rows instead of ~500,000 findings.

Definitions (also in docs/ARCHITECTURE.md):
* fleet score of day D: the mean, over hosts with at least one sample on D, of each
  host's last sample of D (days in TIME_ZONE). Past days come from DailyFleetScore (the
  DailyScore rows summed), today from the raw samples.
* pass rate of rule R at the end of day D: 1 - (hosts with a finding of R open at that
  instant) / (hosts with a sample on D), clamped to [0, 1]. Today's point is "now".
* MTTR of a severity over a period: mean of resolved_at - opened_at of the findings of
  that severity resolved in the period.
* "now" figures (rules failing now, oldest open criticals) leave out findings accepted by
  a risk exception, as the score does. History counts them: acceptance has no history.

Scope is "hosts whose label team / env equals ...". On the raw rows (today, "now") and
on DailyScore (the report's closing scores) it is one `host IN (subquery)` filter on the
hosts' labels as they are now. The rollups by label (DailyFleetScore, DailyFindingFlow,
DailyRuleFailing) carry the team and env their hosts had when the day was rolled up,
within the hour after it ended: a host moved to another team keeps its past under the
old team and counts under the new one from today, so a page filtered by team shows the
team's history as it was. With labels unchanged, both ways give the same figures
(tests/trends/test_rollups.py holds the rollups equal to trends.live).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, Max, OuterRef, QuerySet, Subquery, Sum
from django.utils import timezone

from findings.models import Finding, ScoreSample
from rules import Severity
from trends import live
from trends.models import DailyFindingFlow, DailyFleetScore, DailyRuleFailing, DailyScore
from trends.scope import Scope, day_start


def latest_samples(scope: Scope, start: datetime, end: datetime) -> QuerySet[ScoreSample]:
    """Each host's last sample in [start, end): one index probe per host on
    score_host_time_idx instead of a scan of every sample in the range."""
    last = (
        ScoreSample.objects.filter(host=OuterRef("pk"), taken_at__gte=start, taken_at__lt=end)
        .order_by("-taken_at", "-pk")
        .values("pk")[:1]
    )
    ids = scope.hosts().annotate(last=Subquery(last)).values("last")
    return ScoreSample.objects.filter(pk__in=ids)


def _fleet_scores(scope: Scope, **days: Any) -> dict[date, tuple[float, int]]:
    """Mean score and hosts scored of past days, from DailyFleetScore."""
    rows = (
        scope.apply_labels(DailyFleetScore.objects.filter(**days))
        .values("day")
        .annotate(total=Sum("score_sum"), n=Sum("hosts"))
    )
    return {r["day"]: (r["total"] / r["n"], r["n"]) for r in rows if r["n"]}


@dataclass(frozen=True)
class DayPoint:
    day: date
    mean: float | None
    hosts: int


def fleet_series(scope: Scope, first: date, last: date) -> list[DayPoint]:
    """The fleet score of every day in [first, last]; days without samples have mean None."""
    today = timezone.localdate()
    found = _fleet_scores(scope, day__gte=first, day__lte=min(last, today - timedelta(days=1)))
    if first <= today <= last:
        live = latest_samples(scope, day_start(today), day_start(today + timedelta(days=1)))
        totals = live.aggregate(mean=Avg("score"), hosts=Count("score"))
        if totals["hosts"]:
            found[today] = (totals["mean"], totals["hosts"])
    points = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        mean, hosts = found.get(day, (None, 0))
        points.append(DayPoint(day, None if mean is None else float(mean), hosts))
    return points


@dataclass(frozen=True)
class Comparison:
    label: str
    then: date
    value: float | None
    delta: float | None


def comparisons(scope: Scope, current: DayPoint | None) -> list[Comparison]:
    """Current value against 30 and 365 days before it (month- and year-over-year)."""
    if current is None or current.mean is None:
        return []
    then = {"month": current.day - timedelta(days=30), "year": current.day - timedelta(days=365)}
    means = {
        day: mean for day, (mean, _hosts) in _fleet_scores(scope, day__in=then.values()).items()
    }
    result = []
    for label, day in then.items():
        value = means.get(day)
        delta = None if value is None else round(current.mean - float(value), 1)
        result.append(Comparison(label, day, None if value is None else float(value), delta))
    return result


def failing_now(scope: Scope, limit: int = 10) -> list[dict[str, Any]]:
    """Rules by number of hosts failing them now. Risk-accepted findings are left out:
    they left the score. An index-only scan of finding_open_rule_host_idx."""
    rows = (
        scope.apply(Finding.objects.open().filter(accepted=False))
        .values("rule_id")
        .annotate(hosts=Count("host", distinct=True), severity=Max("severity"))
        .order_by("-hosts", "-severity", "rule_id")[:limit]
    )
    return list(rows)


def open_hosts_now(scope: Scope, rules: list[str]) -> dict[str, int]:
    """Hosts with an open finding of each rule, accepted or not (the pass rates' today,
    like their history). Open now is resolved_at IS NULL: resolutions are never future."""
    rows = (
        scope.apply(Finding.objects.open().filter(rule_id__in=rules))
        .values("rule_id")
        .annotate(hosts=Count("host", distinct=True))
    )
    return {r["rule_id"]: r["hosts"] for r in rows}


def failing_at_end(scope: Scope, day: date, limit: int = 10) -> list[dict[str, Any]]:
    """Rules by number of hosts with a finding of the rule open at the end of `day`."""
    if day >= timezone.localdate():
        return live.failing_rules(scope, min(timezone.now(), day_start(day + timedelta(days=1))))
    rows = (
        scope.apply_labels(DailyRuleFailing.objects.filter(day=day))
        .values("rule_id")
        .annotate(n=Sum("hosts"), top=Max("severity"))
        .order_by("-n", "-top", "rule_id")[:limit]
    )
    return [{"rule_id": r["rule_id"], "hosts": r["n"], "severity": r["top"]} for r in rows]


def rule_pass_rates(
    scope: Scope, rules: list[str], series: list[DayPoint], step: int = 7
) -> dict[str, list[tuple[date, float | None]]]:
    """Pass rate of each rule at the end of every `step`-th day, counting back from the
    last day of the series. Failing hosts of past days from DailyRuleFailing, of today
    now; scanned hosts from the series, attributed to teams the same way."""
    points = series[::-1][::step][::-1]
    if not rules or not points:
        return {}
    today = timezone.localdate()
    rows = (
        scope.apply_labels(
            DailyRuleFailing.objects.filter(
                day__in=[p.day for p in points if p.day < today], rule_id__in=rules
            )
        )
        .values("day", "rule_id")
        .annotate(n=Sum("hosts"))
    )
    failing = {(r["day"], r["rule_id"]): r["n"] for r in rows}
    if points[-1].day == today:
        failing.update(((today, rule), n) for rule, n in open_hosts_now(scope, rules).items())
    rates: dict[str, list[tuple[date, float | None]]] = {}
    for rule in rules:
        line: list[tuple[date, float | None]] = []
        for point in points:
            failed = failing.get((point.day, rule), 0)
            rate = max(0.0, 1 - failed / point.hosts) if point.hosts else None
            line.append((point.day, rate))
        rates[rule] = line
    return rates


def _flow_days(scope: Scope, first: date, last: date) -> QuerySet[DailyFindingFlow]:
    """The rollup's rows for the past days of [first, last]."""
    last = min(last, timezone.localdate() - timedelta(days=1))
    return scope.apply_labels(DailyFindingFlow.objects.filter(day__gte=first, day__lte=last))


def _includes_today(first: date, last: date) -> bool:
    return first <= timezone.localdate() <= last


@dataclass(frozen=True)
class WeekFlow:
    week: date
    opened: int
    resolved: int


def findings_flow(scope: Scope, first: date, last: date) -> list[WeekFlow]:
    """Findings opened and resolved per ISO week (Monday first) between two days."""
    found: dict[date, list[int]] = {}
    rows = _flow_days(scope, first, last).values("day").annotate(o=Sum("opened"), r=Sum("resolved"))
    for row in rows:
        week = row["day"] - timedelta(days=row["day"].weekday())
        counts = found.setdefault(week, [0, 0])
        counts[0] += row["o"]
        counts[1] += row["r"]
    if _includes_today(first, last):
        today = timezone.localdate()
        for week, (opened, resolved) in live.flow_by_week(scope, today, today).items():
            counts = found.setdefault(week, [0, 0])
            counts[0] += opened
            counts[1] += resolved
    monday = first - timedelta(days=first.weekday())
    weeks = []
    while monday <= last:
        opened, resolved = found.get(monday, [0, 0])
        weeks.append(WeekFlow(monday, opened, resolved))
        monday += timedelta(days=7)
    return weeks


@dataclass(frozen=True)
class Remediation:
    severity: Severity
    resolved: int
    mean: timedelta | None

    @property
    def days(self) -> float | None:
        return None if self.mean is None else self.mean.total_seconds() / 86400


def mttr(scope: Scope, first: date, last: date) -> list[Remediation]:
    """Mean time to remediate per severity, for findings resolved from the start of
    `first` to the end of `last` (or now)."""
    rows = (
        _flow_days(scope, first, last)
        .values("severity")
        .annotate(n=Sum("resolved"), time=Sum("resolved_time"))
    )
    found = {r["severity"]: (r["n"], r["time"] or timedelta()) for r in rows}
    if _includes_today(first, last):
        today = day_start(timezone.localdate())
        for severity, (n, time) in live.remediation(scope, today, timezone.now()).items():
            before_n, before_time = found.get(severity, (0, timedelta()))
            found[severity] = (before_n + n, before_time + time)
    result = []
    for severity in sorted(Severity, reverse=True):
        if severity == Severity.INFO:
            continue
        n, time = found.get(int(severity), (0, timedelta()))
        result.append(Remediation(severity, n, time / n if n else None))
    return result


def oldest_criticals(scope: Scope, limit: int = 10) -> list[Finding]:
    """The oldest open critical findings, risk-accepted ones left out."""
    return list(
        scope.apply(Finding.objects.open().filter(severity=Severity.CRITICAL, accepted=False))
        .select_related("host")
        .only("rule_id", "subject_kind", "subject_name", "opened_at", "host__name")
        .order_by("opened_at", "pk")[:limit]
    )


def closing_scores(scope: Scope, first: date, last: date) -> QuerySet[DailyScore]:
    """Each host's last daily row in [first, last]: the picture a period closed on."""
    latest = (
        DailyScore.objects.filter(host=OuterRef("pk"), day__gte=first, day__lte=last)
        .order_by("-day")
        .values("pk")[:1]
    )
    # The day range again outside: without it PostgreSQL hashes every DailyScore row
    # (365,000 at 1,000 hosts) to match the 1,000 ids.
    return DailyScore.objects.filter(
        day__gte=first,
        day__lte=last,
        pk__in=scope.hosts().annotate(last=Subquery(latest)).values("last"),
    )


def findings_totals(scope: Scope, first: date, last: date) -> dict[str, int]:
    """Findings opened and resolved from the start of `first` to the end of `last`."""
    totals = _flow_days(scope, first, last).aggregate(
        opened=Sum("opened"), resolved=Sum("resolved")
    )
    result = {"opened": totals["opened"] or 0, "resolved": totals["resolved"] or 0}
    if _includes_today(first, last):
        today = day_start(timezone.localdate())
        for key, n in live.findings_totals(scope, today, timezone.now()).items():
            result[key] += n
    return result

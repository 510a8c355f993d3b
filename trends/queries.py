"""Read-side queries for trends and reports: every metric is aggregated by the database.

Each function costs a fixed number of statements whatever the fleet size (tests/trends
pins that down). Scope is "hosts whose label team / env equals ...", applied as one
`host IN (subquery)` filter.

Definitions (also in docs/ARCHITECTURE.md):
* fleet score of day D: the mean, over hosts with at least one sample on D, of each
  host's last sample of D (days in TIME_ZONE). Past days come from the DailyScore rollup,
  today from the raw samples.
* pass rate of rule R at the end of day D: 1 - (hosts with a finding of R open at that
  instant) / (hosts with a sample on D), clamped to [0, 1].
* MTTR of a severity over a period: mean of resolved_at - opened_at of the findings of
  that severity resolved in the period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import (
    Avg,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import TruncWeek
from django.utils import timezone

from posture.rules import Severity
from scans.models import Finding, ScoreSample
from trends.models import DailyScore
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


@dataclass(frozen=True)
class DayPoint:
    day: date
    mean: float | None
    hosts: int


def fleet_series(scope: Scope, first: date, last: date) -> list[DayPoint]:
    """The fleet score of every day in [first, last]; days without samples have mean None."""
    today = timezone.localdate()
    rows = (
        scope.apply(DailyScore.objects.filter(day__gte=first, day__lte=min(last, today)))
        .exclude(day=today)
        .values("day")
        .annotate(mean=Avg("score"), hosts=Count("score"))
    )
    found = {r["day"]: (r["mean"], r["hosts"]) for r in rows}
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
    rows = (
        scope.apply(DailyScore.objects.filter(day__in=then.values()))
        .values("day")
        .annotate(mean=Avg("score"))
    )
    means = {r["day"]: r["mean"] for r in rows}
    result = []
    for label, day in then.items():
        value = means.get(day)
        delta = None if value is None else round(current.mean - float(value), 1)
        result.append(Comparison(label, day, None if value is None else float(value), delta))
    return result


def failing_rules(scope: Scope, at: datetime, limit: int = 10) -> list[dict[str, Any]]:
    """Rules by number of hosts with a finding of the rule open at `at`."""
    rows = (
        scope.apply(open_at(Finding.objects.all(), at))
        .values("rule_id")
        .annotate(hosts=Count("host", distinct=True), severity=Max("severity"))
        .order_by("-hosts", "-severity", "rule_id")[:limit]
    )
    return list(rows)


def open_at(qs: QuerySet[Finding], at: datetime) -> QuerySet[Finding]:
    return qs.filter(Q(opened_at__lte=at) & (Q(resolved_at__isnull=True) | Q(resolved_at__gt=at)))


def rule_pass_rates(
    scope: Scope, rules: list[str], series: list[DayPoint], step: int = 7
) -> dict[str, list[tuple[date, float | None]]]:
    """Pass rate of each rule at the end of every `step`-th day, counting back from the
    last day of the series: one statement, one conditional count per point."""
    points = series[::-1][::step][::-1]
    if not rules or not points:
        return {}
    now = timezone.now()
    ends = {p.day: min(now, day_start(p.day + timedelta(days=1))) for p in points}
    counts = {
        f"d{i}": Count(
            "host",
            distinct=True,
            filter=Q(opened_at__lte=end) & (Q(resolved_at__isnull=True) | Q(resolved_at__gt=end)),
        )
        for i, end in enumerate(ends.values())
    }
    # Findings closed before the first point or opened after the last never count.
    rows = (
        scope.apply(Finding.objects.filter(rule_id__in=rules, opened_at__lte=max(ends.values())))
        .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gt=min(ends.values())))
        .values("rule_id")
        .annotate(**counts)
    )
    failing = {r["rule_id"]: r for r in rows}
    rates: dict[str, list[tuple[date, float | None]]] = {}
    for rule in rules:
        line: list[tuple[date, float | None]] = []
        for i, point in enumerate(points):
            failed = failing.get(rule, {}).get(f"d{i}", 0)
            rate = max(0.0, 1 - failed / point.hosts) if point.hosts else None
            line.append((point.day, rate))
        rates[rule] = line
    return rates


@dataclass(frozen=True)
class WeekFlow:
    week: date
    opened: int
    resolved: int


def findings_flow(scope: Scope, first: date, last: date) -> list[WeekFlow]:
    """Findings opened and resolved per ISO week (Monday first) between two days."""
    start, end = day_start(first), day_start(last + timedelta(days=1))
    found: dict[date, list[int]] = {}
    for field, slot in (("opened_at", 0), ("resolved_at", 1)):
        rows = (
            scope.apply(Finding.objects.filter(**{f"{field}__gte": start, f"{field}__lt": end}))
            .annotate(week=TruncWeek(field))
            .values("week")
            # COUNT(*), not COUNT(id): the week's column alone is read, from the index.
            .annotate(n=Count("*"))
        )
        for row in rows:
            week = row["week"]
            if isinstance(week, datetime):  # Trunc gives a local midnight, maybe as UTC
                week = timezone.localtime(week).date()
            found.setdefault(week, [0, 0])[slot] = row["n"]
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


def mttr(scope: Scope, start: datetime, end: datetime) -> list[Remediation]:
    """Mean time to remediate per severity, for findings resolved in [start, end)."""
    age = ExpressionWrapper(F("resolved_at") - F("opened_at"), output_field=DurationField())
    rows = (
        scope.apply(Finding.objects.filter(resolved_at__gte=start, resolved_at__lt=end))
        .values("severity")
        # COUNT(*): with finding_resolved_idx's columns, the heap is not read at all.
        .annotate(n=Count("*"), mean=Avg(age))
    )
    found = {r["severity"]: r for r in rows}
    result = []
    for severity in sorted(Severity, reverse=True):
        if severity == Severity.INFO:
            continue
        row = found.get(int(severity), {})
        result.append(Remediation(severity, row.get("n", 0), row.get("mean")))
    return result


def oldest_criticals(scope: Scope, limit: int = 10) -> list[Finding]:
    return list(
        scope.apply(Finding.objects.open().filter(severity=Severity.CRITICAL))
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
    return DailyScore.objects.filter(
        pk__in=scope.hosts().annotate(last=Subquery(latest)).values("last")
    )


def findings_totals(scope: Scope, start: datetime, end: datetime) -> dict[str, int]:
    """Findings opened and resolved in [start, end), one statement."""
    opened = Q(opened_at__gte=start, opened_at__lt=end)
    resolved = Q(resolved_at__gte=start, resolved_at__lt=end)
    return scope.apply(Finding.objects.filter(opened | resolved)).aggregate(
        opened=Count("pk", filter=opened), resolved=Count("pk", filter=resolved)
    )

"""Finding metrics computed from the findings themselves, at any instant.

These are the definitions (see trends.queries): the pages call them for today, the live
and partial day, and read the rollups (trends.rollup) for past days; the tests hold the
rollups equal to these. Over a long window they read hundreds of thousands of findings.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Q, QuerySet, Sum
from django.db.models.functions import TruncWeek
from django.utils import timezone

from findings.models import Finding
from trends.scope import Scope, day_start


def open_at(qs: QuerySet[Finding], at: datetime) -> QuerySet[Finding]:
    return qs.filter(Q(opened_at__lte=at) & (Q(resolved_at__isnull=True) | Q(resolved_at__gt=at)))


def failing_rules(scope: Scope, at: datetime, limit: int = 10) -> list[dict[str, Any]]:
    """Rules by number of hosts with a finding of the rule open at `at`."""
    rows = (
        scope.apply(open_at(Finding.objects.all(), at))
        .values("rule_id")
        .annotate(hosts=Count("host", distinct=True), severity=Max("severity"))
        .order_by("-hosts", "-severity", "rule_id")[:limit]
    )
    return list(rows)


def failing_hosts(scope: Scope, rules: list[str], ends: list[datetime]) -> dict[str, list[int]]:
    """For each rule, the hosts with a finding of it open at each instant of `ends`:
    one statement, one conditional count per instant."""
    if not rules or not ends:
        return {}
    counts = {
        f"d{i}": Count(
            "host",
            distinct=True,
            filter=Q(opened_at__lte=end) & (Q(resolved_at__isnull=True) | Q(resolved_at__gt=end)),
        )
        for i, end in enumerate(ends)
    }
    # Findings closed before the first instant or opened after the last never count.
    rows = (
        scope.apply(Finding.objects.filter(rule_id__in=rules, opened_at__lte=max(ends)))
        .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gt=min(ends)))
        .values("rule_id")
        .annotate(**counts)
    )
    found = {r["rule_id"]: [r[f"d{i}"] for i in range(len(ends))] for r in rows}
    return {rule: found.get(rule, [0] * len(ends)) for rule in rules}


def flow_by_week(scope: Scope, first: date, last: date) -> dict[date, list[int]]:
    """Findings opened and resolved per ISO week (its Monday) between two days."""
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
    return found


def remediation(scope: Scope, start: datetime, end: datetime) -> dict[int, tuple[int, timedelta]]:
    """Per severity, the findings resolved in [start, end) and the sum of their ages."""
    age = ExpressionWrapper(F("resolved_at") - F("opened_at"), output_field=DurationField())
    rows = (
        scope.apply(Finding.objects.filter(resolved_at__gte=start, resolved_at__lt=end))
        .values("severity")
        # COUNT(*): with finding_resolved_cover_idx's columns, the heap is not read at all.
        .annotate(n=Count("*"), time=Sum(age))
    )
    return {r["severity"]: (r["n"], r["time"] or timedelta()) for r in rows}


def findings_totals(scope: Scope, start: datetime, end: datetime) -> dict[str, int]:
    """Findings opened and resolved in [start, end), one statement."""
    opened = Q(opened_at__gte=start, opened_at__lt=end)
    resolved = Q(resolved_at__gte=start, resolved_at__lt=end)
    return scope.apply(Finding.objects.filter(opened | resolved)).aggregate(
        opened=Count("pk", filter=opened), resolved=Count("pk", filter=resolved)
    )

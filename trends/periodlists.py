"""What happened within one report period, as lists a reader can check: the findings
opened and resolved in it, the critical findings open at its end, and the baselines of
the hosts first scanned in it.

A host's first scan finds everything that was already wrong with it: counted as
"opened", a new host of 40 findings reads as a sudden regression of the fleet. Its
baseline is the findings that scan opened, told apart by time: a scan stores its
findings and its ScoreSample with one `now` (findings.store), so a baseline finding's
opened_at is its host's first sample's taken_at.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import reduce
from operator import or_

from django.db.models import Count, Min, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from findings.models import Finding, ScoreSample
from rules import Severity
from trends.models import DailyScore
from trends.scope import Scope

# Rows per list: the report is read (and printed) whole, so its lists stay short; the
# most severe come first.
LIST_LIMIT = 20
_COLUMNS = ("rule_id", "severity", "subject_kind", "subject_name", "opened_at", "resolved_at")


@dataclass(frozen=True)
class Line:
    """A finding as the report lists it; `at` is when it was opened or resolved."""

    host: str
    rule_id: str
    severity: Severity
    subject: str
    at: datetime

    @classmethod
    def of(cls, finding: Finding, at: datetime) -> Line:
        subject = finding.subject_name or finding.subject_kind
        return cls(finding.host.name, finding.rule_id, Severity(finding.severity), subject, at)


@dataclass(frozen=True)
class Baseline:
    host: str
    first_scan: datetime
    findings: int


def first_scans(scope: Scope, start: datetime, end: datetime) -> dict[int, tuple[str, datetime]]:
    """Host id -> (name, time of its first sample) for the hosts first scanned in
    [start, end): one index probe of score_host_time_idx per host in scope."""
    # By taken_at alone, so the probe reads one entry of the index, not every sample.
    first = ScoreSample.objects.filter(host=OuterRef("pk")).order_by("taken_at")
    rows = (
        scope.hosts()
        .annotate(first=Subquery(first.values("taken_at")[:1]))
        .filter(first__gte=start, first__lt=end)
        .values_list("pk", "name", "first")
    )
    return {pk: (name, taken) for pk, name, taken in rows}


def baselines(firsts: dict[int, tuple[str, datetime]]) -> list[Baseline]:
    """The findings each host's first scan opened, one statement (finding_opened_host_idx);
    a host whose first scan found nothing is listed with 0: it joined the fleet clean."""
    if not firsts:
        return []
    rows = (
        Finding.objects.filter(host_id__in=firsts, opened_at__in={t for _n, t in firsts.values()})
        .values("host_id", "opened_at")
        .annotate(n=Count("*"))
    )
    counts: dict[int, int] = {}
    for row in rows:
        if firsts[row["host_id"]][1] == row["opened_at"]:
            counts[row["host_id"]] = counts.get(row["host_id"], 0) + row["n"]
    return sorted(
        (Baseline(name, taken, counts.get(pk, 0)) for pk, (name, taken) in firsts.items()),
        key=lambda b: (b.first_scan, b.host),
    )


def _not_baseline(firsts: dict[int, tuple[str, datetime]]) -> Q:
    if not firsts:
        return Q()
    return ~reduce(or_, (Q(host_id=pk, opened_at=taken) for pk, (_n, taken) in firsts.items()))


def _listed(qs: QuerySet[Finding]) -> QuerySet[Finding]:
    return qs.select_related("host").only(*_COLUMNS, "host__name")


def opened_in(
    scope: Scope, start: datetime, end: datetime, firsts: dict[int, tuple[str, datetime]]
) -> list[Line]:
    """The most severe findings opened in [start, end), baselines left out."""
    qs = scope.apply(Finding.objects.filter(opened_at__gte=start, opened_at__lt=end))
    qs = qs.filter(_not_baseline(firsts))
    found = _listed(qs).order_by("-severity", "opened_at", "pk")[:LIST_LIMIT]
    return [Line.of(f, f.opened_at) for f in found]


def resolved_in(scope: Scope, start: datetime, end: datetime) -> list[Line]:
    """The most severe findings resolved in [start, end)."""
    qs = scope.apply(Finding.objects.filter(resolved_at__gte=start, resolved_at__lt=end))
    found = _listed(qs).order_by("-severity", "resolved_at", "pk")[:LIST_LIMIT]
    return [Line.of(f, f.resolved_at or f.opened_at) for f in found]


def criticals_open_at(scope: Scope, end: datetime, limit: int = 10) -> list[Finding]:
    """The oldest critical findings open at `end` (the instant a period closed): a finding
    opened after the period is not the period's, one resolved after it still was open.
    Risk acceptance has no history, so accepted findings are listed too."""
    qs = Finding.objects.filter(severity=Severity.CRITICAL, opened_at__lt=end).filter(
        Q(resolved_at__isnull=True) | Q(resolved_at__gte=end)
    )
    return list(_listed(scope.apply(qs)).order_by("opened_at", "pk")[:limit])


def first_data_day(scope: Scope) -> date | None:
    """The first local day with a score of a host in scope, for the report's empty state
    and period picker. The daily rollup's `day` index answers it for the whole fleet;
    samples only when nothing was rolled up yet (a fleet first scanned today)."""
    day = scope.apply(DailyScore.objects.all()).aggregate(first=Min("day"))["first"]
    if day is not None:
        return day
    taken = scope.apply(ScoreSample.objects.all()).aggregate(first=Min("taken_at"))["first"]
    return None if taken is None else timezone.localdate(taken)

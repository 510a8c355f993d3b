"""Which hosts a page may show and which a fleet-wide filter keeps.

The account's scope (access.scope: all hosts, or its teams' hosts) is applied here, once:
every page, partial and export of the fleet, the rules and the subjects starts from
`hosts_in(scope)` or `related_in(queryset, scope)`, so a page cannot forget it. The filters
(?q=&label=k=v&status=&grade=&sort=) are read once and narrow that set further, never
widen it, so that a filter means the same thing on every page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db.models import F, Q, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone

from access.scope import Scope
from hosts.models import Host
from posture.lib.filters import Labels, LenientQuery, QueryFilters, label_strings
from rules.scoring import GRADE_LETTERS

SORTS: dict[str, tuple[Any, ...]] = {
    "name": (F("name").asc(),),
    "score": (F("posture__score").asc(nulls_last=True), F("name").asc()),
    "failing": (
        F("posture__failing_critical").asc(nulls_first=True),
        F("posture__failing_high").asc(nulls_first=True),
        F("posture__failing_medium").asc(nulls_first=True),
        F("posture__failing_low").asc(nulls_first=True),
        F("name").asc(),
    ),
    "last_scan": (F("posture__last_attempt_at").asc(nulls_first=True), F("name").asc()),
}


# Columns whose useful first click is "most first": most failing rules, latest scan.
DESCENDING_FIRST = {"failing", "last_scan"}


# scans.ScanRun.ACTIVE, by value.
SCAN_ACTIVE_STATES = ("queued", "running")
STATUSES = ("ok", "failing", "error", "stale", "never", "scanning")

R = TypeVar("R", bound=QuerySet[Any])


def hosts_in(scope: Scope) -> QuerySet[Host]:
    """The hosts an account with this scope may see: the start of every host query."""
    return scope.filter(Host.objects.all())


def related_in(queryset: R, scope: Scope) -> R:
    """Rows that belong to a host (findings, containers, images, scans) kept to the hosts
    in scope."""
    return scope.filter(queryset, prefix="host__")


@dataclass(frozen=True)
class FleetFilters(QueryFilters):
    SORTS = SORTS
    DESCENDING_FIRST = DESCENDING_FIRST
    DEFAULT_SORT = "name"

    q: str = ""
    labels: Labels = ()
    status: str = ""
    grade: str = ""
    sort: str = "name"

    @classmethod
    def from_query(cls, params: Mapping[str, Any]) -> FleetFilters:
        """Read ?q=&label=k=v&status=&grade=&sort= leniently: an unknown value is ignored."""
        read = LenientQuery(params)
        grade = read.raw("grade").upper()
        return cls(
            q=read.text("q", 200),
            labels=read.labels(),
            status=read.choice("status", STATUSES),
            grade=grade if grade in GRADE_LETTERS else "",
            sort=read.sort(SORTS, cls.DEFAULT_SORT),
        )

    @property
    def active(self) -> bool:
        return bool(self.q or self.labels or self.status or self.grade)

    def label_strings(self) -> list[str]:
        return label_strings(self.labels)

    def params(self) -> dict[str, Any]:
        return {
            "q": self.q,
            "label": self.label_strings(),
            "status": self.status,
            "grade": self.grade,
            "sort": self.sort_param(self.sort),
        }


def filtered(qs: QuerySet[Host], filters: FleetFilters) -> QuerySet[Host]:
    if filters.q:
        qs = qs.filter(Q(name__icontains=filters.q) | Q(endpoint__icontains=filters.q))
    for index, (key, value) in enumerate(filters.labels):
        if value is None:
            qs = qs.filter(labels__has_key=key)
        else:
            # Not labels__contains (SQLite has no JSON containment) nor labels__<key> (a key
            # from the URL would be parsed as lookups): the key's text, compared as text.
            alias = f"label_{index}"
            text = Cast(KeyTextTransform(key, "labels"), output_field=TextField())
            qs = qs.alias(**{alias: text}).filter(**{alias: value})
    if filters.grade:
        qs = qs.filter(posture__grade=filters.grade)
    if filters.status == "scanning":
        # Through the relation, not scans.ScanRun: findings sits below scans. One active
        # scan per host at most (ScanRun's partial unique constraint), so the join adds no
        # duplicate rows.
        qs = qs.filter(scans__status__in=SCAN_ACTIVE_STATES)
    elif filters.status == "never":
        qs = qs.filter(Q(posture__isnull=True) | Q(posture__last_attempt_at__isnull=True))
    elif filters.status == "error":
        qs = qs.exclude(posture__last_error_class="").filter(posture__isnull=False)
    elif filters.status == "stale":
        qs = qs.filter(stale_q())
    elif filters.status == "ok":
        qs = qs.filter(posture__last_error_class="", posture__last_success_at__isnull=False)
        qs = qs.exclude(stale_q())
    elif filters.status == "failing":
        qs = qs.filter(failing_q())
    return qs


def stale_after_intervals() -> int:
    # One missed scan is noise; several in a row mean nobody is looking at that host.
    return int(settings.POSTURE_SCAN["STALE_AFTER_INTERVALS"])


def stale_q() -> Q:
    """The last good picture is older than N of the host's own scan intervals (a host that
    never succeeded has no picture to be stale: it is in error or never scanned). One term
    per distinct interval in the fleet (a handful): portable, where interval-times-duration
    arithmetic is not (SQLite)."""
    now = timezone.now()
    n = stale_after_intervals()
    intervals = Host.objects.order_by().values_list("scan_interval", flat=True).distinct()
    too_old = Q(pk__in=[])
    for minutes in intervals:
        cutoff = now - timedelta(minutes=minutes * n)
        too_old |= Q(scan_interval=minutes, posture__last_success_at__lt=cutoff)
    return too_old


def failing_q() -> Q:
    return (
        Q(posture__failing_critical__gt=0)
        | Q(posture__failing_high__gt=0)
        | Q(posture__failing_medium__gt=0)
        | Q(posture__failing_low__gt=0)
    )


def ordered(qs: QuerySet[Host], sort: str) -> QuerySet[Host]:
    orders = SORTS[sort.removeprefix("-")]
    if sort == "-name":
        orders = (F("name").desc(),)
    elif sort.startswith("-"):
        # Descending, hosts without a value still at the bottom, ties still in name order.
        orders = tuple(
            o if o.expression.name == "name" else F(o.expression.name).desc(nulls_last=True)
            for o in orders
        )
    return qs.order_by(*orders)


def hosts_matching(filters: FleetFilters, scope: Scope) -> QuerySet[Host]:
    """The hosts in scope that the fleet page's filters keep, for other pages to use as a
    subquery (`host__in=hosts_matching(f, scope).values("pk")`), so label filtering stays
    in one place. A ?label=team=web from an account of team pay keeps nothing."""
    return filtered(hosts_in(scope), filters)

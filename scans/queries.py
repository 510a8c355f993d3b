"""Read-side queries for the pages: the fleet table and one host's report.

Views parse the request into these arguments and render what comes back; nothing here
knows about HTTP. The fleet page costs the same number of statements for 3 hosts or
3,000 (posture joined, active scans as an EXISTS subquery, the filtered total folded into
the header counters), which tests/web pins down.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone

from hosts.models import Host
from scans import paging
from scans.models import HostPosture, ScanRun
from scans.transports.errors import ErrorClass

HISTORY_LENGTH = 20
# Rows per fleet page (NetBox's default too). Rendering, not SQL, is what a page costs at
# fleet scale (about half a millisecond a row; docs/BENCHMARKS.md): at 100, 25 users
# clicking every 2 s on 2 cores saw a p95 of 170-260 ms; the budget is 150.
PAGE_SIZE = 50

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
STATUSES = ("ok", "failing", "error", "stale", "never", "scanning")
GRADES = ("A", "B", "C", "D", "F")


@dataclass(frozen=True)
class FleetFilters:
    q: str = ""
    labels: tuple[tuple[str, str | None], ...] = ()
    status: str = ""
    grade: str = ""
    sort: str = "name"

    @classmethod
    def from_query(cls, params: Mapping[str, Any]) -> FleetFilters:
        """Read ?q=&label=k=v&status=&grade=&sort= leniently: an unknown value is ignored."""
        getlist = getattr(params, "getlist", lambda key: [params[key]] if key in params else [])
        labels: list[tuple[str, str | None]] = []
        for raw in getlist("label"):
            key, sep, value = str(raw).partition("=")
            if key.strip():
                labels.append((key.strip(), value.strip() if sep else None))
        status = str(params.get("status", ""))
        grade = str(params.get("grade", "")).upper()
        sort = str(params.get("sort", "name"))
        return cls(
            q=str(params.get("q", "")).strip()[:200],
            labels=tuple(labels[:10]),
            status=status if status in STATUSES else "",
            grade=grade if grade in GRADES else "",
            sort=sort if sort.removeprefix("-") in SORTS else "name",
        )

    @property
    def active(self) -> bool:
        return bool(self.q or self.labels or self.status or self.grade)

    def label_strings(self) -> list[str]:
        return [k if v is None else f"{k}={v}" for k, v in self.labels]

    def query_string(self, **changes: str) -> str:
        """This filter set as "?q=..&label=..", with some parameters replaced."""
        params: dict[str, Any] = {
            "q": self.q,
            "label": self.label_strings(),
            "status": self.status,
            "grade": self.grade,
            "sort": "" if self.sort == "name" else self.sort,
        }
        params.update(changes)
        return paging.query(params)

    def page_url(self, number: int) -> str:
        return self.query_string(page=str(number) if number > 1 else "")

    def sort_urls(self) -> dict[str, str]:
        """Per column, the link that sorts by it: its first direction, then the reverse.
        Like the filter form, it drops the page number: page 3 of another order or another
        selection is not the same hosts, so a new sort or filter starts on page 1."""
        urls = {}
        for column in SORTS:
            first = f"-{column}" if column in DESCENDING_FIRST else column
            second = first.removeprefix("-") if first.startswith("-") else f"-{first}"
            urls[column] = self.query_string(sort=second if self.sort == first else first)
        return urls


def _scan_active() -> Exists:
    return Exists(ScanRun.objects.active().filter(host=OuterRef("pk")))


# The fleet table needs none of these: key material stays out of the page's memory, and the
# per-rule summary (a JSON blob per host) is read by the host page only.
FLEET_DEFERRED = (
    "tls_client_key_enc",
    "ssh_private_key_enc",
    "tls_ca_cert",
    "tls_client_cert",
    "ssh_host_key",
    "posture__rule_summary",
)


def fleet_queryset() -> QuerySet[Host]:
    return (
        Host.objects.select_related("posture")
        .defer(*FLEET_DEFERRED)
        .annotate(scan_active=_scan_active())
    )


def _filtered(qs: QuerySet[Host], filters: FleetFilters) -> QuerySet[Host]:
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
        qs = qs.filter(_scan_active())
    elif filters.status == "never":
        qs = qs.filter(Q(posture__isnull=True) | Q(posture__last_attempt_at__isnull=True))
    elif filters.status == "error":
        qs = qs.exclude(posture__last_error_class="").filter(posture__isnull=False)
    elif filters.status == "stale":
        qs = qs.filter(_stale_q())
    elif filters.status == "ok":
        qs = qs.filter(posture__last_error_class="", posture__last_success_at__isnull=False)
        qs = qs.exclude(_stale_q())
    elif filters.status == "failing":
        qs = qs.filter(_failing_q())
    return qs


def stale_after_intervals() -> int:
    # One missed scan is noise; several in a row mean nobody is looking at that host.
    return int(settings.POSTURE_SCAN["STALE_AFTER_INTERVALS"])


def _stale_q() -> Q:
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


def _failing_q() -> Q:
    return (
        Q(posture__failing_critical__gt=0)
        | Q(posture__failing_high__gt=0)
        | Q(posture__failing_medium__gt=0)
        | Q(posture__failing_low__gt=0)
    )


def _ordered(qs: QuerySet[Host], sort: str) -> QuerySet[Host]:
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


@dataclass(frozen=True)
class HostStatus:
    """What the status cell says about a host, decided from rows already loaded."""

    state: str  # scanning | never | error | stale | ok
    error: ErrorClass | None = None
    as_of: datetime | None = None  # time of the last good picture
    attempted_at: datetime | None = None
    failures: int = 0  # consecutive failed scans
    stale: bool = False  # the last good picture is older than N intervals (any state)

    @property
    def active(self) -> bool:
        return self.state == "scanning"


def grade_class(grade: str | None) -> str:
    return f"grade-{grade.lower()}" if grade and grade in GRADES else "grade-none"


def host_status(
    host: Host, posture: HostPosture | None, scan_active: bool, now: datetime | None = None
) -> HostStatus:
    as_of = posture.last_success_at if posture else None
    attempted = posture.last_attempt_at if posture else None
    failures = posture.consecutive_failures if posture else 0
    if posture is None or attempted is None:
        return HostStatus("scanning" if scan_active else "never")
    now = now or timezone.now()
    stale_after = timedelta(minutes=host.scan_interval * stale_after_intervals())
    stale = as_of is not None and now - as_of > stale_after
    if scan_active:
        state, error = "scanning", None
    elif posture.last_error_class:
        state, error = "error", posture.error
    else:
        state, error = ("stale" if stale else "ok"), None
    return HostStatus(state, error, as_of, attempted, failures, stale)


def posture_of(host: Host) -> HostPosture | None:
    # The reverse one-to-one raises when the row is missing (a host never scanned).
    return getattr(host, "posture", None)


def transport_of(host: Host) -> str:
    try:
        return host.transport
    except ValidationError:  # an endpoint stored before a stricter parser: show, don't crash
        return "?"


@dataclass(frozen=True)
class FleetRow:
    host: Host
    posture: HostPosture | None
    status: HostStatus
    transport: str

    @property
    def grade_class(self) -> str:
        return grade_class(self.posture.grade if self.posture else None)

    @property
    def label_links(self) -> list[tuple[str, str]]:
        """(chip text, link to the fleet filtered on that label) per label. Built here, not
        with {% url %} and urlencode per chip in the template: a few reverse() calls a row
        were a sixth of the table's render time. Relative, as the row only lives on the
        fleet page."""
        chips = [f"{k}={v}" for k, v in self.host.label_pairs()]
        return [(chip, "?" + urlencode({"label": chip})) for chip in chips]

    @classmethod
    def of(cls, host: Host, now: datetime) -> FleetRow:
        posture = posture_of(host)
        active = bool(getattr(host, "scan_active", False))
        return cls(host, posture, host_status(host, posture, active, now), transport_of(host))


def fleet_row(name: str) -> FleetRow | None:
    host = fleet_queryset().filter(name=name).first()
    return FleetRow.of(host, timezone.now()) if host else None


@dataclass(frozen=True)
class FleetCounts:
    hosts: int
    failing: int
    errors: int
    scanning: int
    stale: int
    matching: int  # hosts the table's filters keep: the whole fleet without filters


def fleet_counts(kept: QuerySet[Host] | None = None) -> FleetCounts:
    """Whole-fleet counters for the header, and how many of the hosts `kept` holds, in one
    aggregate statement (the pager needs that total, so it costs no COUNT of its own)."""
    totals = Host.objects.aggregate(
        hosts=Count("pk"),
        failing=Count("pk", filter=_failing_q()),
        errors=Count("pk", filter=~Q(posture__last_error_class="") & Q(posture__isnull=False)),
        scanning=Count("pk", filter=Q(_scan_active())),
        stale=Count("pk", filter=_stale_q()),
        matching=Count("pk", filter=None if kept is None else Q(pk__in=kept.values("pk"))),
    )
    return FleetCounts(**totals)


@dataclass(frozen=True)
class FleetPage:
    filters: FleetFilters
    page: Page[Host]
    rows: list[FleetRow]
    counts: FleetCounts

    @property
    def page_urls(self) -> dict[str, str]:
        return paging.page_links(self.page, self.filters.page_url)


def _page_number(raw: Any) -> int:
    # Paginator.get_page would send "0" or "-3" to the last page (an EmptyPage, like "99");
    # a number below 1 is as meaningless as "abc", so both mean the first page here.
    try:
        return max(int(raw), 1)
    except (TypeError, ValueError):
        return 1


def fleet_page(filters: FleetFilters, number: Any) -> FleetPage:
    """One page of the fleet table and the header counters: two statements whatever the
    fleet size (plus the distinct scan intervals the stale counter and filter read).

    `number` comes from the URL as is: garbage means page 1, past the end the last page,
    so a shared link to page 9 still shows hosts after the fleet shrank.
    """
    hosts = _filtered(fleet_queryset(), filters)
    counts = fleet_counts(hosts if filters.active else None)
    paginator = Paginator(_ordered(hosts, filters.sort), PAGE_SIZE)
    paginator.count = counts.matching  # known already: saves Paginator its COUNT query
    page = paginator.get_page(_page_number(number))
    now = timezone.now()
    rows = [FleetRow.of(host, now) for host in page.object_list]
    return FleetPage(filters, page, rows, counts)


# --- One host's report ------------------------------------------------------------------


# --- Hosts matching the fleet filters, for other pages ------------------------------------


def hosts_matching(filters: FleetFilters) -> QuerySet[Host]:
    """The hosts the fleet page's filters keep, for other pages to use as a subquery
    (`host__in=hosts_matching(f).values("pk")`), so label filtering stays in one place."""
    return _filtered(Host.objects.all(), filters)

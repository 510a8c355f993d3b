"""Read-side queries for the fleet table: one page of hosts with their status and header
counters (host selection itself is findings.selection).

Views parse the request into these arguments and render what comes back; nothing here
knows about HTTP. The fleet page costs the same number of statements for 3 hosts or
3,000 (posture joined, active scans as an EXISTS subquery, the filtered total folded into
the header counters), which tests/posture/test_query_counts.py pins down.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from access.scope import Scope
from findings.models import HostPosture
from findings.selection import FleetFilters, failing_q, filtered, hosts_in, ordered, stale_q
from hosts.models import Host
from posture.lib import paging
from scans.models import ScanRun
from scans.status import HostStatus, grade_class, host_status, posture_of, transport_of

HISTORY_LENGTH = 20
# Rows per fleet page (NetBox's default too). Rendering, not SQL, is what a page costs at
# fleet scale (about half a millisecond a row; docs/BENCHMARKS.md): at 100, 25 users
# clicking every 2 s on 2 cores saw a p95 of 170-260 ms; the budget is 150.
PAGE_SIZE = 50


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


def fleet_queryset(scope: Scope) -> QuerySet[Host]:
    return (
        hosts_in(scope)
        .select_related("posture")
        .defer(*FLEET_DEFERRED)
        .annotate(scan_active=_scan_active())
    )


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


def fleet_row(name: str, scope: Scope) -> FleetRow | None:
    host = fleet_queryset(scope).filter(name=name).first()
    return FleetRow.of(host, timezone.now()) if host else None


@dataclass(frozen=True)
class FleetCounts:
    hosts: int
    failing: int
    errors: int
    scanning: int
    stale: int
    matching: int  # hosts the table's filters keep: the whole fleet without filters


def fleet_counts(scope: Scope, kept: QuerySet[Host] | None = None) -> FleetCounts:
    """Counters of the hosts in scope for the header, and how many of the hosts `kept`
    holds, in one aggregate statement (the pager needs that total, so it costs no COUNT of
    its own)."""
    totals = hosts_in(scope).aggregate(
        hosts=Count("pk"),
        failing=Count("pk", filter=failing_q()),
        errors=Count("pk", filter=~Q(posture__last_error_class="") & Q(posture__isnull=False)),
        scanning=Count("pk", filter=Q(_scan_active())),
        stale=Count("pk", filter=stale_q()),
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


def fleet_page(filters: FleetFilters, number: Any, scope: Scope) -> FleetPage:
    """One page of the fleet table and the header counters: two statements whatever the
    fleet size (plus the distinct scan intervals the stale counter and filter read).

    `number` comes from the URL as is: garbage means page 1, past the end the last page,
    so a shared link to page 9 still shows hosts after the fleet shrank.
    """
    hosts = filtered(fleet_queryset(scope), filters)
    counts = fleet_counts(scope, hosts if filters.active else None)
    paginator = Paginator(ordered(hosts, filters.sort), PAGE_SIZE)
    paginator.count = counts.matching  # known already: saves Paginator its COUNT query
    page = paginator.get_page(_page_number(number))
    now = timezone.now()
    rows = [FleetRow.of(host, now) for host in page.object_list]
    return FleetPage(filters, page, rows, counts)

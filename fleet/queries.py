"""Read-side queries for the fleet table: one page of hosts with their status and header
counters (host selection itself is findings.selection).

Views parse the request into these arguments and render what comes back; nothing here
knows about HTTP. The fleet page costs the same number of statements for 3 hosts or
3,000 (posture joined, active scans as an EXISTS subquery, the filtered total folded into
the header counters), which tests/posture/test_query_counts.py pins down.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from access.scope import Scope
from findings.models import Finding, HostPosture, ScoreSample
from findings.selection import (
    FleetFilters,
    failing_q,
    filtered,
    hosts_in,
    ordered,
    related_in,
    stale_q,
)
from hosts.models import Host
from posture.lib import paging
from rules import Severity
from rules.scoring import GRADE_LETTERS
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


# What "changed in the last 24 hours" and the Δ 24 h column compare with.
CHANGE_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class FleetPageFilters(FleetFilters):
    """The fleet page opens worst first: the lowest score on top, where a manager looks
    first. Other pages that read the fleet's filters keep their name order."""

    DEFAULT_SORT = "score"

    sort: str = "score"


def score_before(now: datetime) -> Subquery:
    """Each host's score CHANGE_WINDOW ago: its last sample taken by then, one probe of
    score_host_time_idx per host. In the SELECT list of a sorted and paged query, only
    the page's rows are probed."""
    sample = ScoreSample.objects.filter(host=OuterRef("pk"), taken_at__lte=now - CHANGE_WINDOW)
    # By taken_at alone: a tie-breaker on pk is not in the index, and would sort every
    # sample of the host (hundreds) for each row instead of reading one index entry.
    return Subquery(sample.order_by("-taken_at").values("score")[:1])


def fleet_queryset(scope: Scope, now: datetime | None = None) -> QuerySet[Host]:
    return (
        hosts_in(scope)
        .select_related("posture")
        .defer(*FLEET_DEFERRED)
        .annotate(scan_active=_scan_active(), score_before=score_before(now or timezone.now()))
    )


@dataclass(frozen=True)
class FleetRow:
    host: Host
    posture: HostPosture | None
    status: HostStatus
    transport: str

    @property
    def delta(self) -> int | None:
        """Score now minus score 24 h ago; None without both (no sample that old)."""
        before = getattr(self.host, "score_before", None)
        if before is None or self.posture is None or self.posture.score is None:
            return None
        return int(self.posture.score) - int(before)

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


def _count_terms(kept: QuerySet[Host] | None) -> dict[str, Any]:
    return {
        "hosts": Count("pk"),
        "failing": Count("pk", filter=failing_q()),
        "errors": Count("pk", filter=~Q(posture__last_error_class="") & Q(posture__isnull=False)),
        "scanning": Count("pk", filter=Q(_scan_active())),
        "stale": Count("pk", filter=stale_q()),
        "matching": Count("pk", filter=None if kept is None else Q(pk__in=kept.values("pk"))),
    }


def fleet_counts(scope: Scope, kept: QuerySet[Host] | None = None) -> FleetCounts:
    """Counters of the hosts in scope for the header, and how many of the hosts `kept`
    holds, in one aggregate statement (the pager needs that total, so it costs no COUNT of
    its own)."""
    return FleetCounts(**hosts_in(scope).aggregate(**_count_terms(kept)))


@dataclass(frozen=True)
class FleetSummary:
    grades: list[tuple[str, int]]  # hosts per grade, A to F
    critical: int  # open findings, risk-accepted ones left out (as the score does)
    high: int
    regressed: int  # hosts whose score is lower than CHANGE_WINDOW ago
    improved: int
    opened: int  # findings opened within CHANGE_WINDOW
    resolved: int


def _host_changes(now: datetime) -> dict[str, Any]:
    """The summary's host figures, as terms of the header counters' aggregate: they ride
    on its one pass over the hosts, so the summary costs one statement more, not two."""
    grades = {f"grade_{g}": Count("pk", filter=Q(posture__grade=g)) for g in GRADE_LETTERS}
    return {
        **grades,
        # The subquery in the filter, not as an annotation: aggregating over an annotation
        # makes Django wrap the query, and the counters' own subqueries lose their host.
        "regressed": Count("pk", filter=Q(posture__score__lt=score_before(now))),
        "improved": Count("pk", filter=Q(posture__score__gt=score_before(now))),
    }


def _finding_changes(scope: Scope, now: datetime) -> dict[str, int]:
    since = now - CHANGE_WINDOW
    open_q = Q(resolved_at__isnull=True, accepted=False)
    # The OR of three indexed conditions (finding_open_sev_age_idx, finding_opened_host_idx,
    # finding_resolved_cover_idx): the 300,000 past findings of a fleet are not read.
    return (
        related_in(Finding.objects.all(), scope)
        .filter(
            Q(resolved_at__isnull=True, severity__gte=Severity.HIGH)
            | Q(opened_at__gte=since)
            | Q(resolved_at__gte=since)
        )
        .aggregate(
            critical=Count("pk", filter=open_q & Q(severity=Severity.CRITICAL)),
            high=Count("pk", filter=open_q & Q(severity=Severity.HIGH)),
            opened=Count("pk", filter=Q(opened_at__gte=since)),
            resolved=Count("pk", filter=Q(resolved_at__gte=since)),
        )
    )


def counts_and_summary(
    scope: Scope, kept: QuerySet[Host] | None, now: datetime
) -> tuple[FleetCounts, FleetSummary]:
    """The header counters and the summary strip: two aggregate statements whatever the
    fleet size, one over the hosts in scope and one over their findings."""
    totals = hosts_in(scope).aggregate(**_count_terms(kept), **_host_changes(now))
    counts = FleetCounts(**{k: totals[k] for k in FleetCounts.__dataclass_fields__})
    summary = FleetSummary(
        grades=[(g, totals[f"grade_{g}"]) for g in GRADE_LETTERS],
        regressed=totals["regressed"],
        improved=totals["improved"],
        **_finding_changes(scope, now),
    )
    return counts, summary


def _summary_key(scope: Scope) -> str:
    return f"fleet-summary:{scope.key}"


def _cached_summary(scope: Scope) -> FleetSummary | None:
    """The strip of a few seconds ago (POSTURE_HEADER_COUNTS_SECONDS, as the header's
    counters): a day's changes read 15 s late say the same, and a fleet page reloaded by
    many people then costs its table and counters only. Per scope, like the counters."""
    if settings.POSTURE_HEADER_COUNTS_SECONDS <= 0:
        return None
    found: FleetSummary | None = cache.get(_summary_key(scope))
    return found


def _keep_summary(scope: Scope, summary: FleetSummary) -> None:
    if settings.POSTURE_HEADER_COUNTS_SECONDS > 0:
        cache.set(_summary_key(scope), summary, settings.POSTURE_HEADER_COUNTS_SECONDS)


@dataclass(frozen=True)
class FleetPage:
    filters: FleetFilters
    page: Page[Host]
    rows: list[FleetRow]
    counts: FleetCounts
    summary: FleetSummary | None = None

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


def fleet_page(
    filters: FleetFilters, number: Any, scope: Scope, summary: bool = False
) -> FleetPage:
    """One page of the fleet table and the header counters: two statements whatever the
    fleet size (plus the distinct scan intervals the stale counter and filter read), and
    one more with the `summary` strip (whole pages; an htmx swap of the table has it).

    `number` comes from the URL as is: garbage means page 1, past the end the last page,
    so a shared link to page 9 still shows hosts after the fleet shrank.
    """
    now = timezone.now()
    hosts = filtered(fleet_queryset(scope, now), filters)
    kept = hosts if filters.active else None
    strip = _cached_summary(scope) if summary else None
    if summary and strip is None:
        counts, strip = counts_and_summary(scope, kept, now)
        _keep_summary(scope, strip)
    else:
        counts = fleet_counts(scope, kept)
    paginator = Paginator(ordered(hosts, filters.sort), PAGE_SIZE)
    paginator.count = counts.matching  # known already: saves Paginator its COUNT query
    page = paginator.get_page(_page_number(number))
    rows = [FleetRow.of(host, now) for host in page.object_list]
    return FleetPage(filters, page, rows, counts, strip)

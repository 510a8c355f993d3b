"""The fleet's containers and images as lists (/containers/, /images/): every live one on the
hosts in scope, searched by name or image, filtered by host, team, state and failing
findings, with the number of failing findings on each row, paged.

A page costs the same few statements for 30 rows or 30,000: the failing counts are
correlated subqueries of the page's rows, not a query per row. "Failing" means what the
score counts: open findings no risk exception accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import (
    Count,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
)
from django.db.models.functions import Cast, Coalesce

from access.scope import TEAM_LABEL, Scope
from findings import drilldown, selection
from findings.models import Container, Finding, Image
from posture.lib import paging
from posture.lib.filters import LenientQuery, QueryFilters
from rules.base import Severity

PAGE_SIZE = 50
STATES = ("running", "stopped")
SEVERITY_LABELS = {s.label: s for s in Severity if s is not Severity.INFO}
SORTS: dict[str, tuple[Any, ...]] = {
    "name": (F("name").asc(), F("host__name").asc(), F("pk").asc()),
    "host": (F("host__name").asc(), F("name").asc(), F("pk").asc()),
    "failing": (F("failing").asc(), F("name").asc(), F("pk").asc()),
}


@dataclass(frozen=True)
class SubjectFilters(QueryFilters):
    """?q= (name or image), ?host=, ?team=, ?state=running|stopped (containers), ?failing=1
    (at least one failing finding), ?severity= (at least one failing finding of it)."""

    SORTS = SORTS
    DESCENDING_FIRST = frozenset({"failing"})
    DEFAULT_SORT = "name"

    q: str = ""
    host: str = ""
    team: str = ""
    state: str = ""
    failing: bool = False
    severity: str = ""
    sort: str = "name"

    @classmethod
    def from_query(cls, params: Mapping[str, Any]) -> SubjectFilters:
        read = LenientQuery(params)
        return cls(
            q=read.text("q", 200),
            host=read.text("host", 100),
            team=read.text("team", 255),
            state=read.choice("state", STATES),
            failing=read.raw("failing") in {"1", "yes", "on"},
            severity=read.choice("severity", SEVERITY_LABELS),
            sort=read.sort(SORTS, cls.DEFAULT_SORT),
        )

    @property
    def active(self) -> bool:
        return bool(self.q or self.host or self.team or self.state or self.failing or self.severity)

    def params(self) -> dict[str, Any]:
        return {
            "q": self.q,
            "host": self.host,
            "team": self.team,
            "state": self.state,
            "failing": "1" if self.failing else "",
            "severity": self.severity,
            "sort": self.sort_param(self.sort),
        }

    def cleared(self) -> str:
        return self.query_string(q="", host="", team="", state="", failing="", severity="")

    def export_params(self, kind: str) -> dict[str, Any]:
        """The same selection for the Export menu (findings.export.ExportFilters' names)."""
        return {
            "kind": kind,
            "host": self.host,
            "label": f"{TEAM_LABEL}={self.team}" if self.team else "",
            "severity": self.severity,
            "search": self.q,
            "state": "failing" if self.failing or self.severity else "",
        }


@dataclass
class SubjectPage:
    filters: SubjectFilters
    page: Page[Any]
    rows: list[dict[str, Any]]
    total: int

    @property
    def page_urls(self) -> dict[str, str]:
        return paging.page_links(self.page, self.filters.page_url)


def _failing(severity: str) -> QuerySet[Finding]:
    qs = Finding.objects.open().filter(accepted=False)
    if severity:
        qs = qs.filter(severity=int(SEVERITY_LABELS[severity]))
    return qs


def _count(qs: QuerySet[Finding]) -> Coalesce:
    """A correlated COUNT(*) of `qs` for each row of the outer query."""
    counted = qs.order_by().values("host").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _narrowed(qs: QuerySet[Any], filters: SubjectFilters, scope: Scope) -> QuerySet[Any]:
    qs = selection.related_in(qs.filter(gone_at__isnull=True), scope)
    if filters.host:
        qs = qs.filter(host__name=filters.host)
    if filters.team:
        wanted = selection.FleetFilters(labels=((TEAM_LABEL, filters.team),))
        qs = qs.filter(host__in=selection.hosts_matching(wanted, scope).values("pk"))
    return qs


def _page(
    qs: QuerySet[Any], filters: SubjectFilters, number: Any, fields: tuple[str, ...]
) -> Page[Any]:
    if filters.failing or filters.severity:
        qs = qs.filter(failing__gt=0)
    orders = SORTS[filters.sort.removeprefix("-")]
    if filters.sort.startswith("-"):
        orders = tuple(o.copy() for o in orders)
        for order in orders:
            order.reverse_ordering()
    paginator = Paginator(qs.order_by(*orders).values(*fields, "failing"), PAGE_SIZE)
    return paginator.get_page(number)


def containers(filters: SubjectFilters, scope: Scope, number: Any) -> SubjectPage:
    """A page of the live containers in scope under the filters, each with its failing
    findings counted."""
    qs = _narrowed(Container.objects.all(), filters, scope)
    if filters.q:
        qs = qs.filter(Q(name__icontains=filters.q) | Q(image_ref__icontains=filters.q))
    if filters.state == "running":
        qs = qs.filter(state="running")
    elif filters.state == "stopped":
        qs = qs.exclude(state="running")
    on_it = _failing(filters.severity).filter(
        host=OuterRef("host"), subject_kind="container", subject_key=OuterRef("container_id")
    )
    qs = qs.annotate(failing=_count(on_it))
    fields = ("pk", "name", "container_id", "image_ref", "image_id", "state", "host__name")
    page = _page(qs, filters, number, fields)
    rows = [drilldown.linkable(row) for row in page.object_list]
    return SubjectPage(filters, page, rows, page.paginator.count)


def images(filters: SubjectFilters, scope: Scope, number: Any) -> SubjectPage:
    """A page of the images in scope (one row per host holding one), each with the failing
    findings on it and on the live containers created from it on that host."""
    qs = _narrowed(Image.objects.all(), filters, scope)
    if filters.q:
        qs = qs.alias(tags_text=Cast("tags", output_field=TextField())).filter(
            Q(name__icontains=filters.q)
            | Q(image_id__icontains=filters.q)
            | Q(tags_text__icontains=filters.q)
        )
    failing = _failing(filters.severity)
    on_image = failing.filter(
        host=OuterRef("host"), subject_kind="image", subject_key=OuterRef("image_id")
    )
    its_containers = Container.objects.filter(
        host=OuterRef(OuterRef("host")), image_id=OuterRef(OuterRef("image_id"))
    ).filter(gone_at__isnull=True)
    on_containers = failing.filter(
        host=OuterRef("host"),
        subject_kind="container",
        subject_key__in=its_containers.values("container_id"),
    )
    in_use = (
        Container.objects.filter(
            host=OuterRef("host"), image_id=OuterRef("image_id"), gone_at__isnull=True
        )
        .order_by()
        .values("host")
        .annotate(n=Count("pk"))
        .values("n")
    )
    qs = qs.annotate(
        failing=_count(on_image) + _count(on_containers),
        containers=Coalesce(Subquery(in_use, output_field=IntegerField()), Value(0)),
    )
    fields = ("pk", "name", "image_id", "tags", "host__name", "containers")
    page = _page(qs, filters, number, fields)
    rows = []
    for row in page.object_list:
        ref = drilldown.image_ref(row["name"]) if row["name"] else None
        well_formed = drilldown.IMAGE_ID.fullmatch(row["image_id"])
        rows.append({**row, "link": ref or (row["image_id"] if well_formed else "")})
    return SubjectPage(filters, page, rows, page.paginator.count)

"""Open findings as a table a security team can work through: one rule's, one container
name's or one image's, across the fleet. Filters by host label (the fleet page's portable
`label=k=v` filtering), severity and subject kind, a search over host name, subject name and
evidence values, three or four sort orders and pages of PAGE_SIZE.

Every page here costs the same number of statements for 3 hosts or 3,000: rows are read with
.values() and the host joined in, counts are one aggregate, lists come whole from one query.
Nothing here knows about HTTP; the views in findings.views.rules and findings.views.subjects parse
the request into these arguments, the account's scope among them: every list and queryset
here starts from the hosts in scope (findings.selection), so a rule, a container name or an
image shows the account's hosts only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, F, Q, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast

from access.scope import Scope
from findings import notes as exception_notes
from findings import selection
from findings.models import Container, Finding, Image
from posture.lib import paging
from posture.lib.filters import Labels, LenientQuery, QueryFilters, label_strings
from rules.base import Severity

PAGE_SIZE = 50
# Lists that are not paginated (hosts running an image, containers of a name) stop here.
LIST_LIMIT = 500
# Evidence is a short list ([{"field", "value"}], one item for most rules); the search reads
# the values of its first items by key, which SQLite and PostgreSQL both do, rather than the
# JSON text, whose escaping differs between them.
EVIDENCE_SEARCHED = 5

CONTAINER_ID = re.compile(r"[0-9a-f]{64}")
IMAGE_ID = re.compile(r"sha256:[0-9a-f]{64}")
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
# distribution/reference's grammar, simplified: [registry[:port]/]path[:tag][@digest].
IMAGE_REFERENCE = re.compile(
    rf"(?:[A-Za-z0-9][A-Za-z0-9.-]*(?::[0-9]{{1,5}})?/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?"
)
REFERENCE_MAX = 255  # Image.name and Container.image_ref hold at most this

KINDS = ("container", "image", "daemon")
SEVERITY_LABELS = {s.label: s for s in Severity}
SORTS: dict[str, tuple[Any, ...]] = {
    "host": (F("host__name").asc(), F("subject_name").asc(), F("rule_id").asc(), F("pk").asc()),
    "subject": (F("subject_name").asc(), F("host__name").asc(), F("rule_id").asc(), F("pk").asc()),
    "rule": (F("rule_id").asc(), F("host__name").asc(), F("subject_name").asc(), F("pk").asc()),
    "opened": (F("opened_at").asc(), F("pk").asc()),
}
DEFAULT_SORT = "host"
# Columns whose useful first click is "most first": the newest findings.
DESCENDING_FIRST = {"opened"}
# Host labels shown as one-click filters on each row.
ROW_LABELS = ("env", "team")

ROW_FIELDS = (
    "pk",
    "rule_id",
    "severity",
    "subject_kind",
    "subject_key",
    "subject_name",
    "evidence",
    "opened_at",
    "host__name",
    "host__labels",
    *exception_notes.FIELDS,  # accepted by a risk exception, or was until it ended
)


def image_ref(value: str) -> str | None:
    """The image id or reference an /images/ URL names, or None when it is neither; a bare
    64-hex id gets its algorithm prefix, as the daemon writes it."""
    if len(value) > REFERENCE_MAX:
        return None
    if CONTAINER_ID.fullmatch(value):
        return f"sha256:{value}"
    if IMAGE_ID.fullmatch(value) or IMAGE_REFERENCE.fullmatch(value):
        return value
    return None


@dataclass(frozen=True)
class FindingFilters(QueryFilters):
    """The finding table's filters on a rule, container-name or image page."""

    SORTS = SORTS
    DESCENDING_FIRST = DESCENDING_FIRST
    DEFAULT_SORT = DEFAULT_SORT

    q: str = ""
    labels: Labels = ()
    severity: str = ""
    kind: str = ""
    sort: str = DEFAULT_SORT
    # Parameters of the page itself (the container name), kept in every link.
    fixed: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_query(
        cls, params: Mapping[str, Any], fixed: tuple[tuple[str, str], ...] = ()
    ) -> FindingFilters:
        """Read ?q=&label=k=v&severity=&kind=&sort= leniently: unknown values are ignored."""
        read = LenientQuery(params)
        return cls(
            q=read.text("q", 200),
            labels=read.labels(),
            severity=read.choice("severity", SEVERITY_LABELS),
            kind=read.choice("kind", KINDS),
            sort=read.sort(SORTS, DEFAULT_SORT),
            fixed=fixed,
        )

    @property
    def active(self) -> bool:
        return bool(self.q or self.labels or self.severity or self.kind)

    def label_strings(self) -> list[str]:
        return label_strings(self.labels)

    def params(self) -> dict[str, Any]:
        return {
            **dict(self.fixed),
            "q": self.q,
            "label": self.label_strings(),
            "severity": self.severity,
            "kind": self.kind,
            "sort": self.sort_param(self.sort),
        }

    def cleared(self) -> str:
        """The link that drops every filter, keeping the page's own parameters and the sort."""
        return self.query_string(q="", label=[], severity="", kind="")

    def with_label(self, key: str, value: str) -> str:
        """This filter set plus one label: the link of a row's label chip."""
        label = f"{key}={value}"
        labels = self.label_strings()
        return self.query_string(label=labels if label in labels else [*labels, label])

    def apply(self, qs: QuerySet[Finding]) -> QuerySet[Finding]:
        if self.labels:
            # `qs` is kept to the account's hosts already (the base querysets below): the
            # labels can only narrow it, so they are matched over the whole fleet.
            wanted = selection.FleetFilters(labels=self.labels)
            hosts = selection.hosts_matching(wanted, Scope.everything())
            qs = qs.filter(host__in=hosts.values("pk"))
        if self.severity:
            qs = qs.filter(severity=int(SEVERITY_LABELS[self.severity]))
        if self.kind:
            qs = qs.filter(subject_kind=self.kind)
        if self.q:
            match = Q(host__name__icontains=self.q) | Q(subject_name__icontains=self.q)
            aliases = {}
            for index in range(EVIDENCE_SEARCHED):
                item = KeyTransform(str(index), "evidence")
                aliases[f"evidence_{index}"] = Cast(
                    KeyTextTransform("value", item), output_field=TextField()
                )
                match |= Q(**{f"evidence_{index}__icontains": self.q})
            qs = qs.alias(**aliases).filter(match)
        return qs

    def ordered(self, qs: QuerySet[Finding]) -> QuerySet[Finding]:
        orders = SORTS[self.sort.removeprefix("-")]
        if self.sort.startswith("-"):
            orders = tuple(o.copy() for o in orders)
            for order in orders:
                order.reverse_ordering()
        return qs.order_by(*orders)


@dataclass
class Evidence:
    field: str
    value: str


@dataclass
class FindingRow:
    """One open finding as a table row, from .values(): no query per row."""

    pk: int
    rule_id: str
    severity: Severity
    kind: str
    key: str
    name: str
    evidence: list[Evidence]
    opened_at: datetime
    host_name: str
    host_labels: list[tuple[str, str]] = field(default_factory=list)
    # (key, value, link adding that label to the page's filters): set by finding_page.
    label_links: list[tuple[str, str, str]] = field(default_factory=list)
    accepted: bool = False
    exception: exception_notes.Note | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> FindingRow:
        try:
            severity = Severity(int(row["severity"]))
        except ValueError:  # a severity from a newer catalogue than this process knows
            severity = Severity.INFO
        items = row["evidence"] if isinstance(row["evidence"], list) else []
        labels = row["host__labels"] if isinstance(row["host__labels"], dict) else {}
        return cls(
            pk=row["pk"],
            rule_id=row["rule_id"],
            severity=severity,
            kind=row["subject_kind"],
            key=row["subject_key"],
            name=row["subject_name"],
            evidence=[
                Evidence(_text(item.get("field")), _text(item.get("value")))
                for item in items
                if isinstance(item, dict)
            ],
            opened_at=row["opened_at"],
            host_name=row["host__name"],
            host_labels=[(k, _text(labels[k])) for k in ROW_LABELS if k in labels],
            accepted=bool(row.get("accepted")),
            exception=exception_notes.Note.of(row),
        )

    @property
    def container_id(self) -> str:
        """The container's id when this is a container finding with a well-formed one."""
        return self.key if self.kind == "container" and CONTAINER_ID.fullmatch(self.key) else ""

    @property
    def image_id(self) -> str:
        return self.key if self.kind == "image" and IMAGE_ID.fullmatch(self.key) else ""


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@dataclass
class FindingPage:
    filters: FindingFilters
    page: Page[Any]
    rows: list[FindingRow]
    total: int  # findings matching the filters, on every page
    hosts: int  # distinct hosts among them
    unfiltered: int  # open findings of the subject before any filter

    @property
    def page_urls(self) -> dict[str, str]:
        return paging.page_links(self.page, self.filters.page_url)


def finding_page(base: QuerySet[Finding], filters: FindingFilters, number: Any) -> FindingPage:
    """A page of `base` (open findings of one rule or subject) under the filters: three
    statements, whatever the fleet size (totals, the page, and nothing per row)."""
    filtered = filters.apply(base)
    kept = Q(pk__in=filtered.values("pk")) if filters.active else None
    totals = base.aggregate(
        unfiltered=Count("pk"),
        total=Count("pk", filter=kept),
        hosts=Count("host", distinct=True, filter=kept),
    )
    paginator = Paginator(filters.ordered(filtered).values(*ROW_FIELDS), PAGE_SIZE)
    paginator.count = totals["total"]  # known already: saves Paginator its COUNT query
    page = paginator.get_page(number)
    rows = [FindingRow.of(row) for row in page.object_list]
    for row in rows:
        row.label_links = [(k, v, filters.with_label(k, v)) for k, v in row.host_labels]
    return FindingPage(filters, page, rows, totals["total"], totals["hosts"], totals["unfiltered"])


def failing(base: QuerySet[Finding]) -> QuerySet[Finding]:
    """The findings that count in the score: those no risk exception accepted."""
    return base.filter(accepted=False)


@dataclass
class AcceptedGroup:
    """The accepted findings of a table (a risk exception in force left them out of the
    score), shown folded under it: at most LIST_LIMIT, the total counted apart."""

    rows: list[FindingRow]
    total: int

    @property
    def truncated(self) -> bool:
        return self.total > len(self.rows)


def accepted_group(base: QuerySet[Finding], filters: FindingFilters) -> AcceptedGroup:
    """The accepted findings of `base` that the filters keep; two statements."""
    qs = filters.apply(base.filter(accepted=True))
    rows = [FindingRow.of(row) for row in filters.ordered(qs).values(*ROW_FIELDS)[:LIST_LIMIT]]
    return AcceptedGroup(rows, qs.count() if len(rows) >= LIST_LIMIT else len(rows))


def open_findings(scope: Scope) -> QuerySet[Finding]:
    return selection.related_in(Finding.objects.open(), scope)


def rule_findings(rule_id: str, scope: Scope) -> QuerySet[Finding]:
    return open_findings(scope).filter(rule_id=rule_id)


def rule_severities(rule_id: str, scope: Scope) -> list[Severity]:
    """The severities the rule's open findings carry (more than one once a profile re-graded
    it for some hosts), highest first."""
    values = rule_findings(rule_id, scope).order_by().values_list("severity", flat=True).distinct()
    out = set()
    for value in values:
        try:
            out.add(Severity(value))
        except ValueError:
            continue
    return sorted(out, reverse=True)


# --- Containers ----------------------------------------------------------------------------


def container_named(name: str, scope: Scope) -> QuerySet[Finding]:
    return open_findings(scope).filter(subject_kind="container", subject_name=name)


def linkable(values: Mapping[str, Any]) -> dict[str, Any]:
    """An inventory row with what may go into a URL: its container id if well formed
    ("link_id") and its image's reference or else id if well formed ("image_link")."""
    row = dict(values)
    row["link_id"] = row["container_id"] if CONTAINER_ID.fullmatch(row["container_id"]) else ""
    ref = image_ref(row.get("image_ref") or "") if row.get("image_ref") else None
    image_id = row.get("image_id") or ""
    row["image_link"] = ref or (image_id if IMAGE_ID.fullmatch(image_id) else "")
    return row


def containers_named(name: str, scope: Scope) -> list[dict[str, Any]]:
    """Live containers of that name on the hosts in scope, one row each with its host's name."""
    qs = selection.related_in(Container.objects.filter(name=name, gone_at__isnull=True), scope)
    qs = qs.order_by("host__name", "pk")
    fields = ("container_id", "image_ref", "image_id", "state", "host__name")
    return [linkable(row) for row in qs.values(*fields)[:LIST_LIMIT]]


def container_findings(host_id: int, container_id: str) -> list[FindingRow]:
    qs = (
        Finding.objects.open()
        .filter(host_id=host_id, subject_kind="container", subject_key=container_id)
        .order_by("-severity", "rule_id", "pk")
        .values(*ROW_FIELDS)
    )
    return [FindingRow.of(row) for row in qs]


# --- Images --------------------------------------------------------------------------------


@dataclass
class ImageHost:
    """One host holding the image or running a container from it."""

    host_name: str
    image_ids: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    containers: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ImageView:
    ref: str
    is_id: bool
    image_ids: list[str]
    tags: list[str]
    hosts: list[ImageHost]
    findings: QuerySet[Finding]

    @property
    def found(self) -> bool:
        return bool(self.hosts)


def _json_list_has(field_name: str, value: str) -> Q:
    """A JSON list of strings holds `value`: its JSON text contains the quoted string. Both
    backends write lists as `["a", "b"]`; JSON containment (__contains) is PostgreSQL-only."""
    return Q(**{f"{field_name}_text__contains": json.dumps(value)})


def image_view(ref: str, scope: Scope) -> ImageView:
    """The image `ref` names (an id, or a reference matched against names and tags of the
    images and against the reference containers were created with), the hosts in scope
    holding or running it, and a queryset of the open findings on it and on its containers
    there. Hosts out of scope are not mentioned, not even counted: an image none of the
    account's hosts has is not found.

    Two statements (images, containers); the findings queryset is the caller's to page."""
    is_id = bool(IMAGE_ID.fullmatch(ref))
    images = selection.related_in(Image.objects.filter(gone_at__isnull=True), scope)
    if is_id:
        images = images.filter(image_id=ref)
    else:
        images = images.alias(tags_text=Cast("tags", output_field=TextField())).filter(
            Q(name=ref) | _json_list_has("tags", ref)
        )
    image_rows = [
        row
        for row in images.order_by("host__name").values("host__name", "image_id", "name", "tags")
        # SQLite's LIKE ignores case: keep exact matches only.
        if is_id or row["name"] == ref or ref in (row["tags"] or [])
    ]
    image_ids = sorted({row["image_id"] for row in image_rows} | ({ref} if is_id else set()))
    containers = selection.related_in(Container.objects.filter(gone_at__isnull=True), scope)
    containers = containers.filter(
        Q(image_id__in=image_ids) if is_id else Q(image_id__in=image_ids) | Q(image_ref=ref)
    )
    container_rows = [
        linkable(row)
        for row in containers.order_by("host__name", "name", "pk").values(
            "host__name", "container_id", "name", "state", "image_id", "image_ref"
        )
    ]

    hosts: dict[str, ImageHost] = {}
    tags: set[str] = set()
    for row in image_rows:
        entry = hosts.setdefault(row["host__name"], ImageHost(row["host__name"]))
        if row["image_id"] not in entry.image_ids:
            entry.image_ids.append(row["image_id"])
        row_tags = [str(t) for t in row["tags"] if isinstance(t, str)] if row["tags"] else []
        entry.tags = sorted(set(entry.tags) | set(row_tags))
        tags |= set(row_tags)
    for container in container_rows:
        entry = hosts.setdefault(container["host__name"], ImageHost(container["host__name"]))
        entry.containers.append(container)
        if container["image_id"] and container["image_id"] not in entry.image_ids:
            entry.image_ids.append(container["image_id"])
    all_ids = sorted(set(image_ids) | {r["image_id"] for r in container_rows if r["image_id"]})

    findings = open_findings(scope).filter(
        Q(subject_kind="image", subject_key__in=all_ids)
        | Q(subject_kind="container", subject_key__in=containers.values("container_id"))
    )
    return ImageView(
        ref=ref,
        is_id=is_id,
        image_ids=all_ids,
        tags=sorted(tags),
        hosts=sorted(hosts.values(), key=lambda h: h.host_name)[:LIST_LIMIT],
        findings=findings,
    )

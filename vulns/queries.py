"""The read side of the vulnerability pages: the fleet grouped by vulnerability, the
vulnerability data's facts and the fleet join the other pages build on (vulns.places holds
one vulnerability, one inventory and a host's summary).

Every function reads in a fixed number of statements whatever the fleet's size (hosts,
current images, running containers, matched rows, decisions), then joins in Python. The
joins are cheap because an inventory belongs to layers, not hosts: the matched rows are
per inventory, and each inventory's hosts are counted once per key, as bitmasks, not once
per row.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Q, TextField
from django.db.models.functions import Cast

from access.scope import Scope
from findings.models import Container, Image
from hosts.models import Host
from posture.lib import paging
from posture.lib.filters import Labels, LenientQuery, QueryFilters, label_strings
from vulndb.models import Advisory, EpssScore, KevEntry
from vulndb.records import VulnSeverity
from vulns.models import ImageVulnerability
from vulns.triage import Decisions, repositories

PAGE_SIZE = 50
SEVERITIES = [s for s in VulnSeverity if s != VulnSeverity.UNKNOWN]
SEVERITY_LABELS = {s.label: s for s in VulnSeverity}
ROW_FIELDS = (
    "inventory__key",
    "vuln",
    "advisory_id",
    "ecosystem",
    "package_name",
    "installed_version",
    "fixed_version",
    "severity",
    "kev",
    "epss",
)


@dataclass(frozen=True)
class VulnFilters(QueryFilters):
    """?q=&severity=&fix=1&kev=1&label=k=v&ecosystem=&package=&image=&triaged=1"""

    q: str = ""
    severity: str = ""  # the lowest severity shown
    fix: bool = False
    kev: bool = False
    labels: Labels = ()
    ecosystem: str = ""
    package: str = ""
    image: str = ""  # an image repository, "registry.example/app"
    host: str = ""  # a host's name (the host page's link)
    triaged: bool = False

    @classmethod
    def from_query(cls, params: Mapping[str, Any]) -> VulnFilters:
        read = LenientQuery(params)
        return cls(
            q=read.text("q", 200),
            severity=read.choice("severity", {s.label for s in SEVERITIES}),
            fix=read.raw("fix") == "1",
            kev=read.raw("kev") == "1",
            labels=read.labels(),
            ecosystem=read.text("ecosystem", 64),
            package=read.text("package", 255),
            image=read.text("image", 255),
            host=read.text("host", 100),
            triaged=read.raw("triaged") == "1",
        )

    @property
    def active(self) -> bool:
        return bool(
            self.q
            or self.severity
            or self.fix
            or self.kev
            or self.labels
            or self.ecosystem
            or self.package
            or self.image
            or self.host
        )

    def label_strings(self) -> list[str]:
        return label_strings(self.labels)

    def params(self) -> dict[str, Any]:
        return {
            "q": self.q,
            "severity": self.severity,
            "fix": "1" if self.fix else "",
            "kev": "1" if self.kev else "",
            "label": self.label_strings(),
            "ecosystem": self.ecosystem,
            "package": self.package,
            "image": self.image,
            "host": self.host,
            "triaged": "1" if self.triaged else "",
        }

    @property
    def triaged_toggle_url(self) -> str:
        """Shows the triaged vulnerabilities, or hides them again."""
        return self.query_string(triaged="" if self.triaged else "1", page="")

    def keeps_host(self, name: str, labels: Mapping[str, Any]) -> bool:
        if self.host and name != self.host:
            return False
        for key, value in self.labels:
            if key not in labels or (value is not None and str(labels[key]) != value):
                return False
        return True


# -- what the vulnerability data says ------------------------------------------------------

# A record may list hundreds of links; a page shows the first ones.
REFERENCE_LIMIT = 40
SAFE_SCHEMES = ("https://", "http://")


@dataclass
class Facts:
    """What the imported data says about one vulnerability (a group of advisories)."""

    ids: list[str]
    aliases: list[str]
    summary: str = ""
    details: str = ""
    cvss_vector: str = ""
    cvss_score: float | None = None
    references: list[str] = field(default_factory=list)
    kev: KevEntry | None = None
    epss: EpssScore | None = None

    @property
    def epss_percent(self) -> float | None:
        return None if self.epss is None else round(self.epss.score * 100, 2)


def ids_with_alias(text: str) -> set[str]:
    """Advisory ids and groups whose id or aliases contain `text` (a search by GHSA, DSA or
    CVE finds the vulnerability whatever id the fleet page shows): one statement."""
    rows = (
        Advisory.objects.alias(aliases_text=Cast("aliases", output_field=TextField()))
        .filter(Q(id__icontains=text) | Q(aliases_text__icontains=text))
        .values_list("id", "group")[:500]
    )
    return {ident for row in rows for ident in row}


@dataclass
class _Known:
    advisories: list[Advisory]
    kev: dict[str, KevEntry]
    epss: dict[str, EpssScore]


def facts_of(ids: set[str]) -> _Known:
    """The advisories, KEV entries and EPSS scores of these groups and advisory ids: three
    statements whatever their number."""
    ids = {i for i in ids if i}
    if not ids:
        return _Known([], {}, {})
    rows = list(Advisory.objects.filter(Q(group__in=ids) | Q(id__in=ids)).order_by("id"))
    cves = ids | {a.group for a in rows}
    return _Known(
        advisories=rows,
        kev={k.cve: k for k in KevEntry.objects.filter(cve__in=cves)},
        epss={e.cve: e for e in EpssScore.objects.filter(cve__in=cves)},
    )


def pick(known: _Known, vuln: str, advisory_ids: Iterable[str]) -> Facts | None:
    """The facts of the group `vuln`: its own record (the CVE's) first, then the others
    matched; aliases are every id but the group's."""
    wanted = {vuln, *advisory_ids}
    records = [a for a in known.advisories if a.group == vuln or a.id in wanted]
    kev, epss = known.kev.get(vuln), known.epss.get(vuln)
    if not records and kev is None and epss is None:
        return None
    records.sort(key=lambda a: (a.id != vuln, a.cvss_score is None, a.id))
    aliases = {i for a in records for i in (a.id, *map(str, a.aliases or ()))} - {vuln}
    scored = next((a for a in records if a.cvss_vector), None)
    references: list[str] = []
    for record in records:
        for ref in record.references or ():
            url = ref.get("url") if isinstance(ref, dict) else ref
            # Links on a page: only web addresses, never a javascript: or data: URL.
            if isinstance(url, str) and url.startswith(SAFE_SCHEMES) and url not in references:
                references.append(url)
    return Facts(
        ids=[a.id for a in records],
        aliases=sorted(aliases),
        summary=next((a.summary for a in records if a.summary), ""),
        details=next((a.details for a in records if a.details), ""),
        cvss_vector=scored.cvss_vector if scored else "",
        cvss_score=scored.cvss_score if scored else None,
        references=references[:REFERENCE_LIMIT],
        kev=kev,
        epss=epss,
    )


# -- the fleet as the pages join it -------------------------------------------------------


@dataclass(slots=True)
class HostImage:
    """One current image on one host."""

    host_id: int
    host_name: str
    image_id: str
    name: str
    repos: frozenset[str]
    labels: Mapping[str, Any]
    running: int  # containers running from it


@dataclass
class KeyShare:
    """What one inventory (layers key) reaches on the fleet."""

    images: list[HostImage] = field(default_factory=list)
    hosts: int = 0  # bitmask over Fleet.host_index
    running: int = 0


@dataclass
class Fleet:
    host_index: dict[int, int]
    by_key: dict[str, KeyShare]


def image_names(name: str, tags: Any) -> list[str]:
    names = [str(t) for t in tags if isinstance(t, str)] if isinstance(tags, list) else []
    return [name, *names] if name else names


def _repos(name: str, tags_text: str | None) -> frozenset[str]:
    try:
        tags = json.loads(tags_text) if tags_text else []
    except ValueError:
        tags = []
    return frozenset(repositories(image_names(name, tags)))


def current_fleet(
    filters: VulnFilters | None = None,
    keys: Iterable[str] | None = None,
    *,
    scope: Scope,
) -> Fleet:
    """The current images (by layers key) of the hosts in `scope` the filters keep, with
    their running containers: three statements. Every page, count and export is built on
    this join, so a host outside the account's scope is absent from all of them at once."""
    hosts = {
        row["pk"]: row
        for row in scope.filter(Host.objects.all()).values("pk", "name", "labels")
        if filters is None or filters.keeps_host(row["name"], row["labels"] or {})
    }
    images = scope.filter(Image.objects.filter(gone_at__isnull=True), "host__")
    images = images.exclude(layers_key="")
    if keys is not None:
        images = images.filter(layers_key__in=list(keys))
    if filters is not None and (filters.labels or filters.host):
        images = images.filter(host_id__in=list(hosts))
    running: dict[tuple[int, str], int] = defaultdict(int)
    containers = scope.filter(
        Container.objects.filter(gone_at__isnull=True, state="running"), "host__"
    )
    if keys is not None:
        containers = containers.filter(
            image_id__in=images.values("image_id"), host__in=images.values("host")
        )
    for host_id, image_id in containers.values_list("host_id", "image_id"):
        running[(host_id, image_id)] += 1
    fleet = Fleet(host_index={}, by_key=defaultdict(KeyShare))
    # Tags read as text and parsed once per distinct list: a fleet's thousands of images
    # share a few dozen (50,000 JSON decodes were a third of the page's time).
    repos_of: dict[tuple[str, str | None], frozenset[str]] = {}
    rows = images.annotate(tags_text=Cast("tags", output_field=TextField())).values_list(
        "host_id", "image_id", "name", "tags_text", "layers_key"
    )
    for host_id, image_id, name, tags_text, key in rows.order_by():
        host = hosts.get(host_id)
        if host is None:
            continue
        repos = repos_of.get((name, tags_text))
        if repos is None:
            repos = repos_of[(name, tags_text)] = _repos(name, tags_text)
        if filters is not None and filters.image and filters.image not in repos:
            continue
        index = fleet.host_index.setdefault(host_id, len(fleet.host_index))
        item = HostImage(
            host_id=host_id,
            host_name=host["name"],
            image_id=image_id,
            name=name,
            repos=repos,
            labels=host["labels"] or {},
            running=running.get((host_id, image_id), 0),
        )
        share = fleet.by_key[key]
        share.images.append(item)
        share.hosts |= 1 << index
        share.running += item.running
    return fleet


# -- the fleet page ------------------------------------------------------------------------


@dataclass
class VulnGroup:
    """One vulnerability across the fleet: its matched rows' facts and the reach of the
    occurrences not covered by a decision (or all, with ?triaged=1)."""

    vuln: str
    severity: int = VulnSeverity.UNKNOWN
    kev: bool = False
    epss: float | None = None
    packages: set[str] = field(default_factory=set)
    fixed: set[str] = field(default_factory=set)
    unfixed: bool = False  # some matched package has no fix yet
    advisory_ids: set[str] = field(default_factory=set)
    images: int = 0
    hosts: int = 0
    containers: int = 0
    triaged_occurrences: int = 0
    facts: Facts | None = None

    @property
    def severity_label(self) -> str:
        return VulnSeverity(self.severity).label

    @property
    def fixable(self) -> bool:
        return bool(self.fixed)

    @property
    def package_list(self) -> list[str]:
        return sorted(self.packages)

    @property
    def fixed_list(self) -> list[str]:
        return sorted(self.fixed)

    @property
    def epss_percent(self) -> float | None:
        return None if self.epss is None else round(self.epss * 100, 2)

    def urgency(self) -> tuple[Any, ...]:
        """Known exploited first, then what can be fixed today among critical and high, then
        the likeliest to be exploited (EPSS), then severity."""
        urgent_fix = self.fixable and self.severity >= VulnSeverity.HIGH
        return (not self.kev, not urgent_fix, -(self.epss or 0.0), -self.severity, self.vuln)


def matched_rows(filters: VulnFilters, keys: Iterable[str]) -> Any:
    rows = ImageVulnerability.objects.filter(inventory__key__in=list(keys))
    if filters.severity:
        rows = rows.filter(severity__gte=int(SEVERITY_LABELS[filters.severity]))
    if filters.fix:
        rows = rows.exclude(fixed_version="")
    if filters.kev:
        rows = rows.filter(kev=True)
    if filters.ecosystem:
        rows = rows.filter(ecosystem__iexact=filters.ecosystem)
    if filters.package:
        rows = rows.filter(package_name=filters.package)
    if filters.q:
        text = Q(vuln__icontains=filters.q) | Q(advisory_id__icontains=filters.q)
        text |= Q(package_name__icontains=filters.q)
        aliased = ids_with_alias(filters.q)
        if aliased:
            text |= Q(advisory_id__in=aliased) | Q(vuln__in=aliased)
        rows = rows.filter(text)
    return rows.values(*ROW_FIELDS)


def _reach(
    group: VulnGroup,
    rows: list[Mapping[str, Any]],
    fleet: Fleet,
    decisions: Decisions,
    show_triaged: bool,
) -> None:
    keys = {row["inventory__key"] for row in rows}
    if not decisions.by_vuln.get(group.vuln):
        # No decision on it: each key's images and containers are its own (an image has one
        # key), and only hosts can repeat across keys.
        hosts = 0
        for key in keys:
            share = fleet.by_key[key]
            group.images += len(share.images)
            group.containers += share.running
            hosts |= share.hosts
        group.hosts = hosts.bit_count()
        return
    packages_by_key: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        packages_by_key[row["inventory__key"]].add(row["package_name"])
    images: set[tuple[int, str]] = set()
    hosts = 0
    for key, packages in packages_by_key.items():
        share = fleet.by_key[key]
        for item in share.images:
            covered = all(
                decisions.covering(group.vuln, package, set(item.repos), item.labels)
                for package in packages
            )
            if covered:
                group.triaged_occurrences += 1
                if not show_triaged:
                    continue
            if (item.host_id, item.image_id) not in images:
                images.add((item.host_id, item.image_id))
                group.containers += item.running
                hosts |= 1 << fleet.host_index[item.host_id]
    group.images = len(images)
    group.hosts = hosts.bit_count()


def vulnerability_groups(filters: VulnFilters, *, scope: Scope) -> tuple[list[VulnGroup], int]:
    """Every vulnerability on the current fleet (in `scope`) the filters keep, most urgent
    first, and how many are hidden because decisions cover every place they run."""
    fleet = current_fleet(filters, scope=scope)
    keys = [key for key, share in fleet.by_key.items() if share.images]
    by_vuln: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    if keys:
        for row in matched_rows(filters, keys):
            by_vuln[row["vuln"]].append(row)
    decisions = Decisions.in_force(by_vuln) if by_vuln else Decisions(())
    groups: list[VulnGroup] = []
    hidden = 0
    for vuln, rows in by_vuln.items():
        group = VulnGroup(vuln=vuln)
        for row in rows:
            group.severity = max(group.severity, row["severity"])
            group.kev = group.kev or row["kev"]
            if row["epss"] is not None:
                group.epss = max(group.epss or 0.0, row["epss"])
            group.packages.add(row["package_name"])
            group.advisory_ids.add(row["advisory_id"])
            if row["fixed_version"]:
                group.fixed.add(row["fixed_version"])
            else:
                group.unfixed = True
        _reach(group, rows, fleet, decisions, filters.triaged)
        if group.images == 0:
            hidden += 1
            continue
        groups.append(group)
    groups.sort(key=VulnGroup.urgency)
    return groups, hidden


@dataclass
class FleetPage:
    page: Page[VulnGroup]
    links: dict[str, str]
    total: int
    triaged_hidden: int


def fleet_page(filters: VulnFilters, number: str | None, *, scope: Scope) -> FleetPage:
    groups, hidden = vulnerability_groups(filters, scope=scope)
    page = Paginator(groups, PAGE_SIZE).get_page(number)
    shown = list(page.object_list)
    facts = facts_of({g.vuln for g in shown} | {a for g in shown for a in g.advisory_ids})
    for group in shown:
        group.facts = pick(facts, group.vuln, group.advisory_ids)
    return FleetPage(
        page=page,
        links=paging.page_links(page, filters.page_url),
        total=len(groups),
        triaged_hidden=hidden,
    )

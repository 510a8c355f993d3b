"""The read side of the vulnerability pages: the fleet grouped by vulnerability, one
vulnerability and where it runs, one inventory and who runs it.

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

from findings.models import Container, Image
from hosts.models import Host
from posture.lib import paging
from posture.lib.filters import Labels, LenientQuery, QueryFilters, label_strings
from vulndb.freshness import DataStatus, data_status
from vulndb.models import Advisory, EpssScore, KevEntry
from vulndb.records import VulnSeverity
from vulns.models import ImageInventory, ImageVulnerability, Package, VulnDecision
from vulns.triage import Decisions, repositories

PAGE_SIZE = 50
PACKAGE_PAGE_SIZE = 100
# Rows of "where does it run" listed on one vulnerability page; the counts stay exact.
OCCURRENCE_LIMIT = 1000
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


def _image_names(name: str, tags: Any) -> list[str]:
    names = [str(t) for t in tags if isinstance(t, str)] if isinstance(tags, list) else []
    return [name, *names] if name else names


def _repos(name: str, tags_text: str | None) -> frozenset[str]:
    try:
        tags = json.loads(tags_text) if tags_text else []
    except ValueError:
        tags = []
    return frozenset(repositories(_image_names(name, tags)))


def current_fleet(filters: VulnFilters | None = None, keys: Iterable[str] | None = None) -> Fleet:
    """The current images (by layers key) of the hosts the filters keep, with their
    running containers: three statements."""
    hosts = {
        row["pk"]: row
        for row in Host.objects.values("pk", "name", "labels")
        if filters is None or filters.keeps_host(row["name"], row["labels"] or {})
    }
    images = Image.objects.filter(gone_at__isnull=True).exclude(layers_key="")
    if keys is not None:
        images = images.filter(layers_key__in=list(keys))
    if filters is not None and (filters.labels or filters.host):
        images = images.filter(host_id__in=list(hosts))
    running: dict[tuple[int, str], int] = defaultdict(int)
    containers = Container.objects.filter(gone_at__isnull=True, state="running")
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


def vulnerability_groups(filters: VulnFilters) -> tuple[list[VulnGroup], int]:
    """Every vulnerability on the current fleet the filters keep, most urgent first, and
    how many are hidden because decisions cover every place they run."""
    fleet = current_fleet(filters)
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


def fleet_page(filters: VulnFilters, number: str | None) -> FleetPage:
    groups, hidden = vulnerability_groups(filters)
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


# -- one vulnerability ---------------------------------------------------------------------


@dataclass(frozen=True)
class ContainerRef:
    host_name: str
    container_id: str
    name: str
    state: str


@dataclass
class Occurrence:
    """One package of one image on one host where the vulnerability was matched."""

    host_name: str
    image_id: str
    image_name: str
    inventory_key: str
    repository: str  # the image's repository, for a decision scoped to it
    package: str
    ecosystem: str
    installed: str
    fixed: str
    containers: list[ContainerRef]
    decision: VulnDecision | None


@dataclass
class VulnDetail:
    vuln: str
    severity: int
    kev: bool
    epss: float | None
    facts: Facts | None
    advisory_ids: list[str]
    fixed_by_ecosystem: dict[str, list[str]]
    occurrences: list[Occurrence]
    total: int
    hosts: int
    images: int
    open: int
    decisions: list[VulnDecision]

    @property
    def severity_label(self) -> str:
        return VulnSeverity(self.severity).label

    @property
    def truncated(self) -> bool:
        return self.total > len(self.occurrences)


def vulnerability_detail(vuln: str) -> VulnDetail | None:
    """The vulnerability `vuln` (its group id) where it runs now; None when no current image
    carries it and no decision names it."""
    rows = list(
        ImageVulnerability.objects.filter(vuln=vuln)
        .values(*ROW_FIELDS)
        .order_by("package_name", "installed_version")
    )
    decisions_list = list(VulnDecision.objects.filter(vuln=vuln).select_related("created_by"))
    if not rows and not decisions_list:
        return None
    keys = {row["inventory__key"] for row in rows}
    fleet = current_fleet(keys=keys)
    decisions = Decisions([d for d in decisions_list if d.in_force()])
    containers = _containers_of(fleet)
    occurrences: list[Occurrence] = []
    hosts: set[int] = set()
    images: set[tuple[int, str]] = set()
    fixed: dict[str, set[str]] = defaultdict(set)
    open_count = 0
    for row in rows:
        if row["fixed_version"]:
            fixed[row["ecosystem"] or "—"].add(row["fixed_version"])
        for item in fleet.by_key.get(row["inventory__key"], KeyShare()).images:
            decision = decisions.covering(vuln, row["package_name"], set(item.repos), item.labels)
            open_count += decision is None
            hosts.add(item.host_id)
            images.add((item.host_id, item.image_id))
            occurrences.append(
                Occurrence(
                    host_name=item.host_name,
                    image_id=item.image_id,
                    image_name=item.name,
                    inventory_key=row["inventory__key"],
                    repository=min(item.repos, default=""),
                    package=row["package_name"],
                    ecosystem=row["ecosystem"],
                    installed=row["installed_version"],
                    fixed=row["fixed_version"],
                    containers=containers.get((item.host_id, item.image_id), []),
                    decision=decision,
                )
            )
    occurrences.sort(key=lambda o: (o.decision is not None, o.host_name, o.image_name, o.package))
    advisory_ids = sorted({row["advisory_id"] for row in rows})
    facts = facts_of({vuln, *advisory_ids})
    epss = [row["epss"] for row in rows if row["epss"] is not None]
    return VulnDetail(
        vuln=vuln,
        severity=max((row["severity"] for row in rows), default=VulnSeverity.UNKNOWN),
        kev=any(row["kev"] for row in rows),
        epss=max(epss) if epss else None,
        facts=pick(facts, vuln, advisory_ids),
        advisory_ids=advisory_ids,
        fixed_by_ecosystem={k: sorted(v) for k, v in sorted(fixed.items())},
        occurrences=occurrences[:OCCURRENCE_LIMIT],
        total=len(occurrences),
        hosts=len(hosts),
        images=len(images),
        open=open_count,
        decisions=decisions_list,
    )


def _containers_of(fleet: Fleet) -> dict[tuple[int, str], list[ContainerRef]]:
    """Every live container (any state) of the fleet's images: one statement."""
    pairs = {(i.host_id, i.image_id) for share in fleet.by_key.values() for i in share.images}
    if not pairs:
        return {}
    found: dict[tuple[int, str], list[ContainerRef]] = defaultdict(list)
    rows = (
        Container.objects.filter(
            gone_at__isnull=True,
            image_id__in={image_id for _h, image_id in pairs},
            host_id__in={host_id for host_id, _i in pairs},
        )
        .order_by("name")
        .values_list("host_id", "host__name", "image_id", "container_id", "name", "state")
    )
    for host_id, host_name, image_id, container_id, name, state in rows:
        if (host_id, image_id) in pairs:
            found[(host_id, image_id)].append(ContainerRef(host_name, container_id, name, state))
    return found


# -- one inventory -------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageFilters(QueryFilters):
    q: str = ""

    @classmethod
    def from_query(cls, params: Mapping[str, Any]) -> PackageFilters:
        return cls(q=LenientQuery(params).text("q", 200))

    def params(self) -> dict[str, Any]:
        return {"q": self.q}


@dataclass
class InventoryView:
    inventory: ImageInventory
    packages: Page[Package]
    package_links: dict[str, str]
    vulnerabilities: list[ImageVulnerability]
    images: list[HostImage]
    containers: dict[tuple[int, str], list[ContainerRef]]

    @property
    def hosts(self) -> list[tuple[HostImage, list[ContainerRef]]]:
        return [(i, self.containers.get((i.host_id, i.image_id), [])) for i in self.images]


def package_page(
    inventory: ImageInventory, filters: PackageFilters, number: str | None
) -> tuple[Page[Package], dict[str, str]]:
    packages = inventory.packages.order_by("name", "version", "pk")
    if filters.q:
        packages = packages.filter(
            Q(name__icontains=filters.q)
            | Q(source_name__icontains=filters.q)
            | Q(purl__icontains=filters.q)
        )
    page = Paginator(packages, PACKAGE_PAGE_SIZE).get_page(number)
    return page, paging.page_links(page, filters.page_url)


def inventory_view(
    inventory: ImageInventory, filters: PackageFilters, number: str | None
) -> InventoryView:
    page, links = package_page(inventory, filters, number)
    fleet = current_fleet(keys=[inventory.key])
    share = fleet.by_key.get(inventory.key, KeyShare())
    share.images.sort(key=lambda i: (i.host_name, i.name))
    vulns = list(inventory.vulnerabilities.all())
    vulns.sort(key=lambda v: (not v.kev, not v.fixable, -v.severity, -(v.epss or 0.0), v.vuln))
    return InventoryView(
        inventory=inventory,
        packages=page,
        package_links=links,
        vulnerabilities=vulns,
        images=share.images,
        containers=_containers_of(fleet),
    )


def inventories_of_images(image_ids: Iterable[str]) -> list[ImageInventory]:
    """The inventories of these image ids (the findings image page's panel)."""
    keys = (
        Image.objects.filter(image_id__in=list(image_ids))
        .exclude(layers_key="")
        .values("layers_key")
    )
    return list(ImageInventory.objects.filter(key__in=keys).order_by("image_name", "key"))


# -- a host's summary ----------------------------------------------------------------------


@dataclass
class HostSummary:
    by_severity: dict[str, int]
    kev: int
    fixable: int
    total: int
    images: int
    assessed: int  # images with an assessed inventory
    data: DataStatus


def host_summary(host: Host) -> HostSummary:
    """The host page's panel: distinct vulnerabilities on its current images, not covered
    by a decision. Three statements."""
    images = list(
        Image.objects.filter(host=host, gone_at__isnull=True)
        .exclude(layers_key="")
        .values_list("layers_key", "name", "tags")
    )
    keys = {key for key, _n, _t in images}
    assessed = set(
        ImageInventory.objects.filter(
            key__in=keys, status=ImageInventory.Status.ASSESSED
        ).values_list("key", flat=True)
    )
    repos = {key: repositories(_image_names(name, tags)) for key, name, tags in images}
    rows = list(ImageVulnerability.objects.filter(inventory__key__in=keys).values(*ROW_FIELDS))
    decisions = Decisions.in_force({r["vuln"] for r in rows}) if rows else Decisions(())
    worst: dict[str, int] = {}
    kev: set[str] = set()
    fixable: set[str] = set()
    for row in rows:
        vuln = row["vuln"]
        covered = decisions.covering(
            vuln, row["package_name"], repos.get(row["inventory__key"], set()), host.labels or {}
        )
        if covered:
            continue
        worst[vuln] = max(worst.get(vuln, 0), row["severity"])
        if row["kev"]:
            kev.add(vuln)
        if row["fixed_version"]:
            fixable.add(vuln)
    by_severity = {s.label: 0 for s in reversed(VulnSeverity)}
    for severity in worst.values():
        by_severity[VulnSeverity(severity).label] += 1
    return HostSummary(
        by_severity=by_severity,
        kev=len(kev),
        fixable=len(fixable),
        total=len(worst),
        images=len(images),
        assessed=len(assessed),
        data=data_status(),
    )


def carried(vuln: str) -> bool:
    """Some inventory carries `vuln` (a decision may be made on it)."""
    return ImageVulnerability.objects.filter(vuln=vuln).exists()


def hosts_running(vuln: str) -> list[Host]:
    """The hosts with a current image carrying `vuln`: the ones a decision on it concerns."""
    keys = ImageInventory.objects.filter(vulnerabilities__vuln=vuln).values("key")
    images = Image.objects.filter(gone_at__isnull=True, layers_key__in=keys).values("host_id")
    return list(Host.objects.filter(pk__in=images).order_by("name"))

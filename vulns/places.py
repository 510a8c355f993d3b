"""The read side of the pages about one thing: one vulnerability and where it runs (its
occurrences, containers and decisions), one inventory and who runs it (its packages, its
vulnerabilities, its hosts), a host's vulnerability summary, and the small lookups triage
needs (is a vulnerability carried, which hosts run it). Built on vulns.queries' fleet join
(current_fleet) and vulnerability facts, with the same fixed number of statements whatever
the fleet's size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Q

from access.scope import Scope
from findings.models import Container, Image
from hosts.models import Host
from posture.lib import paging
from posture.lib.filters import LenientQuery, QueryFilters
from vulndb.freshness import DataStatus, data_status
from vulndb.records import VulnSeverity
from vulns.models import ImageInventory, ImageVulnerability, Package, VulnDecision
from vulns.queries import (
    ROW_FIELDS,
    Facts,
    Fleet,
    HostImage,
    KeyShare,
    current_fleet,
    facts_of,
    image_names,
    pick,
)
from vulns.triage import Decisions, repositories, visible

# Rows of "where does it run" listed on one vulnerability page; the counts stay exact.
OCCURRENCE_LIMIT = 1000
PACKAGE_PAGE_SIZE = 100


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


def vulnerability_detail(vuln: str, *, scope: Scope) -> VulnDetail | None:
    """The vulnerability `vuln` (its group id) where it runs now on the hosts of `scope`;
    None when no inventory carries it and no decision names it, or, for an account limited
    to some teams, when none of its hosts runs it (as for carried())."""
    rows = list(
        ImageVulnerability.objects.filter(vuln=vuln)
        .values(*ROW_FIELDS)
        .order_by("package_name", "installed_version")
    )
    every_decision = list(VulnDecision.objects.filter(vuln=vuln).select_related("created_by"))
    if not rows and not every_decision:
        return None
    # Coverage uses every decision in force: one that covers a host of the scope concerns
    # the scope (vulns.triage.visible), so nothing is shown that the listing hides.
    decisions_list = visible(every_decision, scope)
    keys = {row["inventory__key"] for row in rows}
    fleet = current_fleet(keys=keys, scope=scope)
    decisions = Decisions([d for d in every_decision if d.in_force()])
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
    if not scope.all_hosts and not occurrences:
        return None
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
    inventory: ImageInventory, filters: PackageFilters, number: str | None, *, scope: Scope
) -> InventoryView | None:
    """None when the account is limited to some teams and none of their hosts runs the
    inventory now: its page is then as absent as its hosts are."""
    fleet = current_fleet(keys=[inventory.key], scope=scope)
    share = fleet.by_key.get(inventory.key, KeyShare())
    if not scope.all_hosts and not share.images:
        return None
    page, links = package_page(inventory, filters, number)
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


def inventories_of_images(image_ids: Iterable[str], *, scope: Scope) -> list[ImageInventory]:
    """The inventories of these image ids on hosts of `scope` (the findings image page's
    panel)."""
    images = scope.filter(Image.objects.filter(image_id__in=list(image_ids)), "host__")
    keys = images.exclude(layers_key="").values("layers_key")
    return list(ImageInventory.objects.filter(key__in=keys).order_by("image_name", "key"))


def inventory_in_scope(inventory: ImageInventory, scope: Scope) -> bool:
    """A host of `scope` runs the inventory now (always, for the whole fleet): what the
    inventory's page and its SBOM download require."""
    if scope.all_hosts:
        return True
    images = Image.objects.filter(gone_at__isnull=True, layers_key=inventory.key)
    return scope.filter(images, "host__").exists()


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
    repos = {key: repositories(image_names(name, tags)) for key, name, tags in images}
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


def carried(vuln: str, scope: Scope) -> bool:
    """Some inventory carries `vuln` (a decision may be made on it); for an account limited
    to some teams, one that a host of theirs runs now."""
    if scope.all_hosts:
        return ImageVulnerability.objects.filter(vuln=vuln).exists()
    keys = ImageInventory.objects.filter(vulnerabilities__vuln=vuln).values("key")
    images = Image.objects.filter(gone_at__isnull=True, layers_key__in=keys)
    return scope.filter(images, "host__").exists()


def hosts_running(vuln: str) -> list[Host]:
    """The hosts with a current image carrying `vuln`: the ones a decision on it concerns."""
    keys = ImageInventory.objects.filter(vulnerabilities__vuln=vuln).values("key")
    images = Image.objects.filter(gone_at__isnull=True, layers_key__in=keys).values("host_id")
    return list(Host.objects.filter(pk__in=images).order_by("name"))

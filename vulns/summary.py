"""What the rules see of each image: its open vulnerabilities (ImageVulns), or why it is
not assessed.

Runs on every scan of every host, so it is built for the unchanged scan: an inventory's
vulnerability list is read from the database once per process and match (its matched_at),
then reused as the same immutable tuples for every host that runs the image. Measured
with bench/bench_fleet_images.py (1,000 hosts × 50 images): rebuilding ~4,900
ImageVulnerability objects per host per scan was half the worker's time in an unchanged
cycle. Triage decisions in force are read once per scan (usually a handful), and filter
only when there are some.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from hosts.models import Host
from rules.facts import ImageFacts, ImageVulns, VulnRef
from vulns.models import ImageInventory, ImageVulnerability, Package
from vulns.triage import Decisions, repositories

# Inventories kept per worker process; a fleet has far fewer distinct images than this.
MAX_CACHED = 4096


@dataclass(frozen=True)
class _Cached:
    version: tuple[datetime | None, int]  # (matched_at, matched_generation)
    refs: tuple[VulnRef, ...]  # most urgent first
    language_ecosystems: frozenset[str]  # "PyPI", "npm"…: their data is checked too


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[int, _Cached] = {}
        self.loads = 0  # inventories read from the database (tests count them)


_cache = _Cache()


def clear_cache() -> None:
    with _cache.lock:
        _cache.entries.clear()
        _cache.loads = 0


def _urgency(r: VulnRef) -> tuple[bool, int, bool, float, str]:
    return (not r.kev, -r.severity, not r.fixed, -(r.epss or 0), r.id)


def _entries(inventories: Sequence[ImageInventory]) -> dict[int, _Cached]:
    wanted = {inv.pk: (inv.matched_at, inv.matched_generation) for inv in inventories}
    with _cache.lock:
        found = {
            pk: entry
            for pk, entry in ((pk, _cache.entries.get(pk)) for pk in wanted)
            if entry is not None and entry.version == wanted[pk]
        }
    missing = [pk for pk in wanted if pk not in found]
    if not missing:
        return found
    refs: dict[int, list[VulnRef]] = {pk: [] for pk in missing}
    rows = ImageVulnerability.objects.filter(inventory_id__in=missing).values_list(
        "inventory_id",
        "vuln",
        "package_name",
        "installed_version",
        "fixed_version",
        "severity",
        "kev",
        "epss",
    )
    for pk, vuln, package, installed, fixed, severity, kev, epss in rows:
        refs[pk].append(VulnRef(vuln, package, installed, fixed, severity, kev, epss))
    languages: dict[int, set[str]] = {pk: set() for pk in missing}
    for pk, ecosystem in (
        Package.objects.filter(inventory_id__in=missing)
        .exclude(ecosystem__contains=":")
        .values_list("inventory_id", "ecosystem")
        .distinct()
    ):
        languages[pk].add(ecosystem)
    with _cache.lock:
        if len(_cache.entries) + len(missing) > MAX_CACHED:
            _cache.entries.clear()
        for pk in missing:
            entry = _Cached(
                wanted[pk], tuple(sorted(refs[pk], key=_urgency)), frozenset(languages[pk])
            )
            _cache.entries[pk] = found[pk] = entry
        _cache.loads += len(missing)
    return found


def summaries(
    host: Host, images: Sequence[ImageFacts], mode: str, containers: Mapping[str, str]
) -> None:
    """Attach to each image the ImageVulns its rules read (ImageFacts.vulns)."""
    from vulndb.index import ecosystems_with_data

    keys = {i.layers_key for i in images if i.layers_key}
    inventories = {inv.key: inv for inv in ImageInventory.objects.filter(key__in=keys)}
    ready = [
        inv
        for inv in inventories.values()
        if inv.status == ImageInventory.Status.ASSESSED and _matched(inv)
    ]
    entries = _entries(ready)
    asked = {inv.ecosystem for inv in ready if inv.ecosystem}
    for entry in entries.values():
        asked |= entry.language_ecosystems
    with_data = ecosystems_with_data(asked)
    decisions = Decisions.in_force()
    labels = host.labels if isinstance(host.labels, dict) else {}
    for image in images:
        image.vulns = _summary(
            image,
            inventories.get(image.layers_key),
            entries,
            decisions,
            with_data,
            labels,
            mode,
            containers,
        )


def _matched(inventory: ImageInventory) -> bool:
    # Read by Posture but not matched yet (between store and match, or a match that
    # failed): no vulnerabilities is not known yet, and must not close occurrences.
    return inventory.source != ImageInventory.Source.POSTURE or inventory.matched_generation >= 0


def _summary(
    image: ImageFacts,
    inventory: ImageInventory | None,
    entries: Mapping[int, _Cached],
    decisions: Decisions,
    with_data: set[str],
    labels: Mapping[str, str],
    mode: str,
    containers: Mapping[str, str],
) -> ImageVulns:
    if inventory is None or inventory.status == ImageInventory.Status.READING:
        if not image.layers_key:
            reason = "the daemon gave no layer list for this image"
        elif mode == "off":
            reason = "image scanning is off for this host"
        elif inventory is not None:
            reason = "its inventory is being read"
        elif mode == "os" and image.id not in containers:
            reason = "no container of this image to read from; deep mode reads images without one"
        else:
            reason = "its inventory has not been read yet"
        return ImageVulns(assessed=False, reason=reason)
    if inventory.status != ImageInventory.Status.ASSESSED:
        return ImageVulns(
            assessed=False, reason=inventory.reason or "its inventory could not be read"
        )
    entry = entries.get(inventory.pk)
    if entry is None:
        return ImageVulns(assessed=False, reason="its packages are being matched")
    if inventory.source == ImageInventory.Source.POSTURE:
        missing = sorted(e for e in {inventory.ecosystem} - with_data if e)
        if missing or (not inventory.ecosystem and not with_data):
            return ImageVulns(
                assessed=False,
                reason=(
                    f"no vulnerability data for {', '.join(missing)}"
                    if missing
                    else "no vulnerability data has been imported"
                ),
                os_id=inventory.os_id,
                os_version=inventory.os_version,
                os_name=inventory.os_name,
                packages=inventory.package_count,
            )
    refs = entry.refs
    if decisions:
        repos = repositories(_references(image))
        refs = tuple(r for r in refs if not decisions.covering(r.id, r.package, repos, labels))
    return ImageVulns(
        assessed=True,
        os_id=inventory.os_id,
        os_version=inventory.os_version,
        os_name=inventory.os_name,
        packages=inventory.package_count,
        vulnerabilities=refs,
    )


def _references(image: ImageFacts) -> list[str]:
    refs: list[str] = []
    for field in ("RepoTags", "RepoDigests"):
        value = image.inspect.get(field)
        if isinstance(value, list):
            refs += [v for v in value if isinstance(v, str)]
    return refs

"""Image inventories as plain functions: who reads which image, storing what was read,
matching it against the vulnerability data, and what the rules get to see.

Reading itself needs a daemon connection and lives in scans.images; everything here works
on the database alone, so a change of vulnerability data re-matches every inventory
without reading a single host.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from hosts.models import Host
from rules.facts import ImageFacts
from vulndb.models import Advisory, current_generation
from vulns.models import ImageInventory, ImageVulnerability, Package
from vulns.packages import InventoryResult

log = logging.getLogger(__name__)

# A read that failed (daemon error, garbage archive) is tried again after this, by any
# host that has the image; one that could not start (no container, scanning off) as soon
# as a host that can read it comes by.
RETRY_FAILED = timedelta(hours=6)


def _conf() -> dict[str, int]:
    return settings.POSTURE_IMAGE_INVENTORY


@dataclass(frozen=True)
class Claim:
    """An image this worker must read now: its inventory row is leased to us."""

    key: str
    image: ImageFacts
    container_id: str | None  # a container to read from (os mode); None for deep mode


def image_containers(facts_containers: Iterable[object]) -> dict[str, str]:
    """image id → a container of it to read files from, running ones first (their
    filesystem is the one that serves)."""
    chosen: dict[str, tuple[bool, str]] = {}
    for c in facts_containers:
        inspect = getattr(c, "inspect", {})
        image_id = str(inspect.get("Image", ""))
        state = inspect.get("State")
        running = bool(state.get("Running")) if isinstance(state, dict) else False
        if image_id and (image_id not in chosen or (running and not chosen[image_id][0])):
            chosen[image_id] = (running, str(getattr(c, "id", "")))
    return {image_id: cid for image_id, (_, cid) in chosen.items()}


def claim(
    host: Host,
    images: Sequence[ImageFacts],
    containers: Mapping[str, str],
    mode: str,
    now: datetime | None = None,
) -> list[Claim]:
    """The images of this host whose content no inventory describes yet and that this host
    can read, claimed so that no other worker reads the same layers at the same time.

    At most POSTURE_IMAGE_INVENTORIES_PER_SCAN per scan: the others wait for the next one.
    """
    if mode == "off":
        return []
    now = now or timezone.now()
    lease = now + timedelta(seconds=_conf()["LEASE_SECONDS"])
    readable = {
        i.layers_key: i for i in images if i.layers_key and (mode == "deep" or i.id in containers)
    }
    if not readable:
        return []
    existing = {
        row[0]: row
        for row in ImageInventory.objects.filter(key__in=list(readable)).values_list(
            "key", "status", "lease_until", "mode", "read_at", "pk"
        )
    }
    claims: list[Claim] = []
    limit = _conf()["PER_SCAN"]
    for key, image in readable.items():
        if len(claims) >= limit:
            break
        row = existing.get(key)
        took = False
        if row is None:
            try:
                with transaction.atomic():
                    ImageInventory.objects.create(
                        key=key,
                        status=ImageInventory.Status.READING,
                        lease_until=lease,
                        attempts=1,
                        image_id=image.id[:80],
                        image_name=image.name[:255],
                        read_from=host,
                    )
                took = True
            except IntegrityError:
                took = False  # another worker created it between our read and insert
        else:
            _, status, lease_until, row_mode, read_at, pk = row
            stale_claim = status == ImageInventory.Status.READING and (
                lease_until is None or lease_until < now
            )
            # Nothing was read before (no container then, or scanning off) or the read failed
            # long enough ago; a deep read is also worth a retry after an os-mode refusal.
            retry = status == ImageInventory.Status.NOT_ASSESSED and (
                not row_mode
                or (read_at is not None and read_at < now - RETRY_FAILED)
                or (mode == "deep" and row_mode == "os")
            )
            if stale_claim or retry:
                took = bool(
                    ImageInventory.objects.filter(pk=pk, status=status, lease_until=lease_until)
                    .exclude(status=ImageInventory.Status.ASSESSED)
                    .update(
                        status=ImageInventory.Status.READING,
                        lease_until=lease,
                        read_from=host,
                        image_id=image.id[:80],
                    )
                )
        if took:
            claims.append(Claim(key, image, None if mode == "deep" else containers.get(image.id)))
    return claims


def store(
    claim_: Claim, result: InventoryResult, host: Host, duration_ms: int
) -> ImageInventory | None:
    """Write what was read for a claimed image and match it. None when the claim was lost
    (another worker took over after our lease ran out): its result stands."""
    now = timezone.now()
    fields = {
        "status": (
            ImageInventory.Status.ASSESSED
            if result.assessed
            else ImageInventory.Status.NOT_ASSESSED
        ),
        "reason": result.reason[:500],
        # The mode it was read in: "" is kept for claims given back unread (release).
        "mode": result.mode or "os",
        "os_id": result.os.id[:64] if result.os else "",
        "os_version": result.os.version_id[:64] if result.os else "",
        "os_name": (result.os.pretty_name if result.os else "")[:255],
        "ecosystem": ((result.os.ecosystem() or "") if result.os else "")[:64],
        "package_count": len(result.packages),
        "bytes_read": result.bytes_read,
        "duration_ms": duration_ms,
        "read_at": now,
        "lease_until": None,
        "read_from": host,
        "image_name": claim_.image.name[:255],
        "special_files": (
            None
            if result.special_files is None
            else [[path, *modes] for path, modes in sorted(result.special_files.items())]
        ),
    }
    # Stored and matched in one transaction: a host scanned in between would otherwise see
    # an assessed image without vulnerabilities and close its open occurrences.
    with transaction.atomic():
        updated = ImageInventory.objects.filter(
            key=claim_.key, status=ImageInventory.Status.READING, read_from=host
        ).update(**fields)
        if not updated:
            return None
        inventory = ImageInventory.objects.get(key=claim_.key)
        inventory.packages.all().delete()
        Package.objects.bulk_create(
            [
                Package(
                    inventory=inventory,
                    ecosystem=p.ecosystem[:64],
                    name=p.name[:255],
                    version=p.version[:128],
                    source_name=p.source_name[:255],
                    source_version=p.source_version[:128],
                    purl=p.purl[:512],
                    path=p.path[:512],
                    license=p.license[:255],
                )
                for p in result.packages
            ],
            batch_size=1000,
        )
        if inventory.assessed:
            match(inventory)
    return inventory


def release(claim_: Claim, host: Host, reason: str) -> None:
    """Give a claim back unread (the scan ran out of time): the next scan takes it."""
    ImageInventory.objects.filter(
        key=claim_.key, status=ImageInventory.Status.READING, read_from=host
    ).update(
        status=ImageInventory.Status.NOT_ASSESSED, reason=reason[:500], mode="", lease_until=None
    )


_VULN_COLUMNS = (
    "inventory_id",
    "advisory_id",
    "vuln",
    "ecosystem",
    "package_name",
    "installed_version",
    "fixed_version",
    "severity",
    "kev",
    "epss",
    "source",
    "first_seen_at",
)


def match(inventory: ImageInventory, generation: int | None = None) -> bool:
    """Match an inventory's packages against the data; True when its vulnerabilities
    changed. Rows still matched keep their first_seen_at (time-to-fix is measured from it).

    Rows are read as tuples and written with raw executemany: re-matching 100 inventories
    of 2,000 vulnerabilities each spent 20 of its 38 s compiling bulk_create's SQL and 5.5 s
    building model instances (bench/bench_rematch.py under cProfile)."""
    # vulndb's engine is loaded when first needed: a web process never matches.
    from vulndb import index as vuln_index
    from vulndb import matching

    generation = current_generation() if generation is None else generation
    packages = [
        _Matchable(*row)
        for row in inventory.packages.values_list(
            "ecosystem", "name", "version", "source_name", "source_version"
        )
    ]
    # (vuln, package, installed) -> [advisory_id, ecosystem, fixed, severity, kev, epss]
    found: dict[tuple[str, str, str], list[Any]] = {}
    if packages:
        index = vuln_index.index_for({p.ecosystem for p in packages})
        matches = matching.match(packages, index)
        advisories = {
            ident: (group, severity)
            for ident, group, severity in Advisory.objects.filter(
                id__in={m.advisory_id for m in matches}
            ).values_list("id", "group", "severity")
        }
        groups = {group for group, _severity in advisories.values()}
        kev = vuln_index.kev_set(groups)
        epss = vuln_index.epss_for(groups)
        for m in matches:
            advisory = advisories.get(m.advisory_id)
            if advisory is None:
                continue
            group, severity = advisory
            package = packages[m.package_index]
            key = (group, package.name, package.version)
            row = found.get(key)
            fixed = (m.fixed_version or "")[:128]
            if row is not None:
                # Two advisories of one flaw (DSA and CVE records): the worst severity and
                # the highest fix of the two stand.
                row[3] = max(row[3], severity)
                row[2] = _later(package.ecosystem, row[2], fixed)
                continue
            found[key] = [
                m.advisory_id,
                package.ecosystem,
                fixed,
                severity,
                group in kev,
                epss.get(group),
            ]
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    table = connection.ops.quote_name(ImageVulnerability._meta.db_table)
    with transaction.atomic():
        existing = {
            (vuln, package, installed): (pk, [advisory_id, fixed, severity, kev, epss])
            for pk, vuln, package, installed, advisory_id, fixed, severity, kev, epss in (
                inventory.vulnerabilities.filter(source=ImageInventory.Source.POSTURE).values_list(
                    "pk",
                    "vuln",
                    "package_name",
                    "installed_version",
                    "advisory_id",
                    "fixed_version",
                    "severity",
                    "kev",
                    "epss",
                )
            )
        }
        gone = [pk for key, (pk, _old) in existing.items() if key not in found]
        new = [
            (
                inventory.pk,
                v[0],
                key[0],
                v[1],
                key[1],
                key[2],
                v[2],
                v[3],
                v[4],
                v[5],
                ImageInventory.Source.POSTURE.value,
                now,
            )
            for key, v in found.items()
            if key not in existing
        ]
        changed = []
        for key, v in found.items():
            if key in existing:
                pk, old = existing[key]
                now_values = [v[0], v[2], v[3], bool(v[4]), v[5]]
                if [old[0], old[1], old[2], bool(old[3]), old[4]] != now_values:
                    changed.append((*now_values, pk))
        if gone:
            ImageVulnerability.objects.filter(pk__in=gone).delete()
        with connection.cursor() as cursor:
            if new:
                columns = ", ".join(_VULN_COLUMNS)
                marks = ", ".join(["%s"] * len(_VULN_COLUMNS))
                sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
                for start in range(0, len(new), 1000):
                    cursor.executemany(sql, new[start : start + 1000])
            if changed:
                cursor.executemany(
                    f"UPDATE {table} SET advisory_id = %s, fixed_version = %s, severity = %s, "
                    "kev = %s, epss = %s WHERE id = %s",
                    changed,
                )
        ImageInventory.objects.filter(pk=inventory.pk).update(
            matched_generation=generation, matched_at=timezone.now()
        )
    return bool(gone or new or changed)


def _later(ecosystem: str, a: str, b: str) -> str:
    """The later of two fixed versions ("" = no fix, which wins: still unfixed somewhere)."""
    from vulndb import versions

    if not a or not b:
        return ""
    try:
        return a if versions.compare(ecosystem, a, b) >= 0 else b
    except versions.InvalidVersion:
        return a


class _Matchable:
    """A stored package in the shape vulndb.matching reads."""

    __slots__ = ("ecosystem", "name", "version", "match_name", "match_version")

    def __init__(
        self, ecosystem: str, name: str, version: str, source_name: str, source_version: str
    ) -> None:
        self.ecosystem, self.name, self.version = ecosystem, name, version
        self.match_name = source_name or name
        self.match_version = source_version or version


def rematch(limit: int | None = None) -> list[str]:
    """Match again every assessed inventory matched against older data; the keys whose
    vulnerabilities changed (their hosts need their verdicts redone)."""
    generation = current_generation()
    stale = ImageInventory.objects.filter(
        status=ImageInventory.Status.ASSESSED, matched_generation__lt=generation
    ).order_by("pk")
    if limit is not None:
        stale = stale[:limit]
    changed = []
    for inventory in stale.iterator(chunk_size=200):
        try:
            if match(inventory, generation):
                changed.append(inventory.key)
        except Exception:  # one inventory's bad data must not stop the others
            log.exception("matching inventory %s failed", inventory.key)
    return changed


def hosts_running(keys: Iterable[str]) -> list[int]:
    from findings.models import Image

    return list(
        Image.objects.filter(layers_key__in=list(keys), gone_at__isnull=True)
        .values_list("host_id", flat=True)
        .distinct()
    )

"""The advisories of a few ecosystems as a matching.Index, kept in the process per data
generation: a worker matching many images loads each ecosystem once per data change.

Also the KEV and EPSS look-ups the matcher's callers make per image.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import chain

from vulndb import matching
from vulndb.models import AffectedPackage, EpssScore, KevEntry, data_version
from vulndb.records import Affected, Range

# Index objects kept per set of ecosystems asked together ("Debian:12" + "PyPI" + "npm"):
# a fleet has a handful of such sets; the oldest goes past this many.
MAX_INDEXES = 32
_CHUNK = 1000

Entry = tuple[str, Affected]


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.version: tuple[int, datetime | None] = (-1, None)
        self.entries: dict[str, list[Entry]] = {}
        self.indexes: dict[frozenset[str], matching.Index] = {}
        self.loads = 0  # ecosystems read from the database (tests count them)
        self.ecosystems: frozenset[str] = frozenset()
        self.ecosystems_version: tuple[int, datetime | None] = (-1, None)

    def clear(self, version: tuple[int, datetime | None]) -> None:
        self.version = version
        self.entries.clear()
        self.indexes.clear()
        gc.unfreeze()


_cache = _Cache()


def index_for(ecosystems: Iterable[str]) -> matching.Index:
    """An Index over the affected packages of these ecosystems ("Debian:12", "PyPI")."""
    wanted = frozenset(ecosystems)
    version = data_version()
    with _cache.lock:
        if version != _cache.version:
            _cache.clear(version)
        index = _cache.indexes.get(wanted)
        if index is None:
            for ecosystem in sorted(wanted - _cache.entries.keys()):
                _cache.entries[ecosystem] = list(_load(ecosystem))
                _cache.loads += 1
            index = matching.Index(chain.from_iterable(_cache.entries[e] for e in sorted(wanted)))
            if len(_cache.indexes) >= MAX_INDEXES:
                _cache.indexes.pop(next(iter(_cache.indexes)))
            _cache.indexes[wanted] = index
            # Hundreds of thousands of long-lived tuples: left to the collector, a full
            # collection during a match() stalled it 734 ms (bench/bench_match.py); frozen,
            # the worst case was ~104 ms. A data change drops the index, and unfreezes.
            gc.collect()
            gc.freeze()
        return index


def clear_cache() -> None:
    with _cache.lock:
        _cache.clear((-1, None))
        _cache.loads = 0
        _cache.ecosystems_version = (-1, None)


def stored_as(ecosystem: str) -> list[str]:
    """The names OSV data may give an image's ecosystem: Ubuntu's LTS releases are
    published as "Ubuntu:22.04:LTS" while os-release says 22.04."""
    if ecosystem.startswith("Ubuntu:") and not ecosystem.endswith(":LTS"):
        return [ecosystem, f"{ecosystem}:LTS"]
    return [ecosystem]


def ecosystems_with_data(ecosystems: Iterable[str]) -> set[str]:
    """Those of the ecosystems that some imported advisory names. Every scan asks: the
    distinct ecosystems are read once per data version (a scan of the affected packages,
    34 ms at 133,000 rows, was a fifth of an unchanged scan's database time)."""
    wanted = {name: eco for eco in ecosystems for name in stored_as(eco)}
    if not wanted:
        return set()
    version = data_version()
    with _cache.lock:
        known = _cache.ecosystems if _cache.ecosystems_version == version else None
    if known is None:
        known = frozenset(
            AffectedPackage.objects.values_list("ecosystem", flat=True).distinct().order_by()
        )
        with _cache.lock:
            _cache.ecosystems, _cache.ecosystems_version = known, version
    return {eco for name, eco in wanted.items() if name in known}


def _load(ecosystem: str) -> Iterator[Entry]:
    intern = sys.intern  # names and event kinds repeat across thousands of rows
    eco = intern(ecosystem)
    rows = (
        AffectedPackage.objects.filter(ecosystem__in=stored_as(ecosystem))
        .values_list("advisory_id", "name", "ranges", "versions")
        .iterator(chunk_size=5000)
    )
    for advisory_id, name, ranges, versions in rows:
        yield (
            advisory_id,
            Affected(
                ecosystem=eco,
                name=intern(name),
                ranges=tuple(
                    Range(
                        type=intern(r["type"]),
                        events=tuple((intern(kind), v) for kind, v in r["events"]),
                    )
                    for r in ranges
                ),
                versions=tuple(versions),
            ),
        )


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    items = sorted(set(values))
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def kev_set(cves: Iterable[str]) -> set[str]:
    """Those of the CVEs in CISA's Known Exploited Vulnerabilities catalogue."""
    found: set[str] = set()
    for chunk in _chunks(cves):
        found.update(KevEntry.objects.filter(cve__in=chunk).values_list("cve", flat=True))
    return found


def epss_for(cves: Iterable[str]) -> dict[str, float]:
    """EPSS probability per CVE, for those that have one."""
    scores: dict[str, float] = {}
    for chunk in _chunks(cves):
        scores.update(EpssScore.objects.filter(cve__in=chunk).values_list("cve", "score"))
    return scores

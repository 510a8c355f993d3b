"""How much vulnerability data there is and how old it is, for pages and `vulndb status`.

Without OSV data no image can be assessed: pages must say "not assessed", never "no
vulnerabilities". Data older than POSTURE_VULNDB_MAX_AGE_DAYS misses recent advisories.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from vulndb.models import Advisory, DataImport, EpssScore, KevEntry, data_version


@dataclass(frozen=True)
class DataStatus:
    has_osv: bool
    osv_count: int
    kev_count: int
    epss_count: int
    # The data's own date per kind (newest OSV `modified`, KEV release, EPSS score date).
    newest: dict[str, datetime | None] = field(default_factory=dict)
    ages: dict[str, int | None] = field(default_factory=dict)  # days, per kind
    age_days: int | None = None  # of the OSV data: what the pages show
    stale: bool = False  # the OSV data is older than the limit
    stale_kinds: tuple[str, ...] = ()  # every kind that has data older than the limit
    max_age_days: int = 7
    generation: int = 0


# Counting 200,000 advisories on every page costs ~20 ms: kept per data generation.
_counts: dict[tuple[int, datetime | None], tuple[int, int, int]] = {}


def _count(version: tuple[int, datetime | None]) -> tuple[int, int, int]:
    cached = _counts.get(version)
    if cached is None:
        cached = (Advisory.objects.count(), KevEntry.objects.count(), EpssScore.objects.count())
        if version[1] is not None:  # rows written around the importer have no version
            _counts.clear()
            _counts[version] = cached
    return cached


def data_status(now: datetime | None = None) -> DataStatus:
    now = now or timezone.now()
    max_age = settings.POSTURE_VULNDB_MAX_AGE_DAYS
    version = data_version()
    osv_count, kev_count, epss_count = _count(version)
    newest: dict[str, datetime | None] = dict.fromkeys(DataImport.Kind.values)
    newest.update(
        DataImport.objects.filter(data_date__isnull=False)
        .values("kind")
        .annotate(newest=Max("data_date"))
        .values_list("kind", "newest")
    )
    ages = {kind: (now - d).days if d else None for kind, d in newest.items()}
    counts = {"osv": osv_count, "kev": kev_count, "epss": epss_count}
    stale_kinds = tuple(
        kind for kind, age in ages.items() if counts[kind] and age is not None and age > max_age
    )
    return DataStatus(
        has_osv=osv_count > 0,
        osv_count=osv_count,
        kev_count=kev_count,
        epss_count=epss_count,
        newest=newest,
        ages=ages,
        age_days=ages["osv"] if osv_count else None,
        stale="osv" in stale_kinds,
        stale_kinds=stale_kinds,
        max_age_days=max_age,
        generation=version[0],
    )

"""Open and close VulnOccurrence rows as scans see a host's vulnerabilities come and go,
and the figures managers read from them (counts and time-to-fix by severity)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from hosts.models import Host
from rules.facts import ImageFacts
from vulndb.records import VulnSeverity
from vulns.models import HostVulnState, VulnOccurrence


def record(host: Host, images: Iterable[ImageFacts], now: datetime) -> None:
    """Called once per successful scan, in its transaction (scans.finish). Images whose
    vulnerabilities could not be assessed keep their occurrences open: not seeing a
    vulnerability is not the same as it being fixed."""
    seen: dict[tuple[str, str], tuple[int, bool, bool]] = {}
    unassessed = False
    for image in images:
        found = image.vulns
        if found is None or not found.assessed:
            unassessed = unassessed or (found is not None and bool(image.layers_key))
            continue
        for v in found.vulnerabilities:
            key = (v.id, v.package)
            old = seen.get(key, (0, False, False))
            seen[key] = (max(old[0], v.severity), old[1] or v.kev, old[2] or bool(v.fixed))
    digest = hashlib.sha256(
        repr((unassessed, sorted(seen.items()))).encode("utf-8", "surrogatepass")
    ).hexdigest()
    state = HostVulnState.objects.filter(host=host).values_list("digest", flat=True).first()
    if state == digest:
        return  # the same open vulnerabilities as last time: nothing opens or closes
    HostVulnState.objects.update_or_create(
        host=host, defaults={"digest": digest, "updated_at": now}
    )
    open_rows = {}
    changed = []
    for row in VulnOccurrence.objects.filter(host=host, fixed_at__isnull=True).only(
        "pk", "vuln", "package_name", "severity", "kev", "fixable", "escalated_at"
    ):
        open_rows[(row.vuln, row.package_name)] = row.pk
        now_flags = seen.get((row.vuln, row.package_name))
        # New data can raise what an open vulnerability is (added to KEV, a fix published):
        # the trends count it as it is now.
        if now_flags is not None and now_flags != (row.severity, row.kev, row.fixable):
            if not VulnOccurrence.urgent(row.severity, row.kev, row.fixable) and (
                VulnOccurrence.urgent(*now_flags)
            ):
                row.escalated_at = now
            row.severity, row.kev, row.fixable = now_flags
            changed.append(row)
    if changed:
        VulnOccurrence.objects.bulk_update(changed, ["severity", "kev", "fixable", "escalated_at"])
    VulnOccurrence.objects.bulk_create(
        [
            VulnOccurrence(
                host=host,
                vuln=vuln[:128],
                package_name=package[:255],
                severity=severity,
                kev=kev,
                fixable=fixable,
                opened_at=now,
            )
            for (vuln, package), (severity, kev, fixable) in seen.items()
            if (vuln, package) not in open_rows
        ],
        batch_size=1000,
    )
    if not unassessed:
        gone = [pk for key, pk in open_rows.items() if key not in seen]
        if gone:
            VulnOccurrence.objects.filter(pk__in=gone).update(fixed_at=now)


@dataclass(frozen=True)
class SeverityFigures:
    severity: str
    open: int
    kev: int
    fixable: int
    fixed: int  # closed within the period
    median_days_to_fix: float | None


def figures(
    hosts: QuerySet[Host] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[SeverityFigures]:
    """Open vulnerabilities (host × vulnerability × package) and time-to-fix of those fixed
    between `since` (default: 90 days ago) and `until`, by severity, worst first."""
    since = since or timezone.now() - timedelta(days=90)
    rows = VulnOccurrence.objects.all()
    if hosts is not None:
        rows = rows.filter(host__in=hosts.values("pk"))
    counts: dict[int, dict[str, Any]] = {
        r["severity"]: dict(r)
        for r in rows.filter(fixed_at__isnull=True)
        .values("severity")
        .annotate(
            n=Count("pk"),
            kev=Count("pk", filter=Q(kev=True)),
            fix=Count("pk", filter=Q(fixable=True)),
        )
    }
    durations: dict[int, list[float]] = {}
    closed = rows.filter(fixed_at__gte=since)
    if until is not None:
        closed = closed.filter(fixed_at__lt=until)
    for severity, opened, fixed in closed.values_list("severity", "opened_at", "fixed_at"):
        if fixed is not None:
            durations.setdefault(severity, []).append((fixed - opened).total_seconds() / 86400)
    out = []
    for severity in sorted(VulnSeverity, reverse=True):
        c = counts.get(severity, {})
        spans = durations.get(severity, [])
        out.append(
            SeverityFigures(
                severity=severity.label,
                open=c.get("n", 0),
                kev=c.get("kev", 0),
                fixable=c.get("fix", 0),
                fixed=len(spans),
                median_days_to_fix=round(median(spans), 1) if spans else None,
            )
        )
    return out

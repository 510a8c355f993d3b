"""Vulnerability regressions: a known-exploited, or critical and fixable, vulnerability that
appeared on a host, read from the host's VulnOccurrence rows (written by vulns.history in the
scan's transaction) and the current matches of its images.

One opens in two ways:
- an occurrence opened by this scan (its opened_at is the scan's finished_at) qualifies: a new
  image or package version, or new advisories matched after a data import;
- an occurrence open from before became urgent in this scan (vulns.history sets its
  escalated_at to the scan's finished_at): the flaw was added to CISA KEV or a fix was
  published, the commonest "only the data changed" case.
It closes when no occurrence of its vulnerability and package is open on the host any more:
a later scan without the missed one's occurrence still closes what it opened.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q

from alerts.models import Event, Regression
from findings.models import Image
from rules import Severity
from scans.models import ScanRun
from vulndb.records import VulnSeverity
from vulns.models import ImageVulnerability, VulnOccurrence

KIND = Regression.Kind.VULNERABILITY
# As the rules that report the same facts (rules/image_vulns.py): CTR-VULN-KEV is critical,
# CTR-VULN-CRITICAL (fixable critical) high. Someone exploits a KEV entry today; a fixable
# critical is urgent work. A subscriber at "critical" hears of the first only, as on the
# rules' findings.
KEV_SEVERITY = Severity.CRITICAL
FIXABLE_SEVERITY = Severity.HIGH
# Fixed versions listed in a mail: a package in several images may have several.
MAX_FIXED = 3


def vulnerability_key(vuln: str, package: str) -> str:
    """The same flaw in the same package on a host, whatever image carries it. Hashed as
    alerts.detect.problem_key is: ids and package names come from untrusted data, the key is
    64 characters, and NUL occurs in neither, so the join is unambiguous."""
    raw = "\0".join((vuln, package)).encode("utf-8", "surrogatepass")
    return "vuln:" + hashlib.sha224(raw).hexdigest()


def qualifies(kev: bool, severity: int, fixable: bool) -> bool:
    return kev or (severity >= VulnSeverity.CRITICAL and fixable)


@dataclass
class _Match:
    """What the host's current images say of one vulnerability in one package."""

    kev: bool = False
    severity: int = 0
    installed: str = ""
    fixed: tuple[str, ...] = ()

    @property
    def qualifies(self) -> bool:
        return qualifies(self.kev, self.severity, bool(self.fixed))


def detect_vulnerabilities(scan: ScanRun) -> list[Event]:
    """Call inside detect's transaction, for a successful scan that is not the host's first
    picture. A constant number of statements, however many vulnerabilities the scan turned
    over."""
    at = scan.finished_at
    if at is None:
        return []
    # Locked: a receiver run twice for a scan waits here, then sees what the first one did.
    current = {
        r.key: r
        for r in Regression.objects.open()
        .filter(host_id=scan.host_id, kind=KIND)
        .select_for_update()
    }
    matches = _matches(scan.host_id)
    watched = {v for v, _p in matches} | {str(r.details.get("vuln", "")) for r in current.values()}
    opened_here = Q(opened_at=at) & (
        Q(kev=True) | Q(severity__gte=VulnSeverity.CRITICAL, fixable=True)
    )
    rows = (
        VulnOccurrence.objects.filter(host_id=scan.host_id, fixed_at__isnull=True)
        .filter(opened_here | Q(escalated_at=at) | Q(vuln__in=watched))
        .values_list(
            "vuln", "package_name", "kev", "severity", "fixable", "opened_at", "escalated_at"
        )
        .order_by("id")
    )
    still_open: set[str] = set()
    new: dict[str, Regression] = {}
    for vuln, package, kev, severity, fixable, opened_at, escalated_at in rows:
        key = vulnerability_key(vuln, package)
        still_open.add(key)
        if key in current or key in new:
            continue
        match = matches.get((vuln, package), _Match())
        if (opened_at == at and qualifies(kev, severity, fixable)) or escalated_at == at:
            new[key] = _regression(scan, at, key, vuln, package, kev, severity, match)
    return _open(scan, new) + _close(
        scan, at, [r for r in current.values() if r.key not in still_open]
    )


def _matches(host_id: int) -> dict[tuple[str, str], _Match]:
    """The qualifying matches in the host's current images: a few rows, even for a host
    whose images carry thousands of vulnerabilities."""
    keys = (
        Image.objects.filter(host_id=host_id, gone_at__isnull=True)
        .exclude(layers_key="")
        .values("layers_key")
    )
    rows = (
        ImageVulnerability.objects.filter(inventory__key__in=keys)
        .filter(Q(kev=True) | (Q(severity__gte=VulnSeverity.CRITICAL) & ~Q(fixed_version="")))
        .values_list(
            "vuln", "package_name", "kev", "severity", "installed_version", "fixed_version"
        )
        .order_by("id")
    )
    out: dict[tuple[str, str], _Match] = {}
    for vuln, package, kev, severity, installed, fixed in rows:
        m = out.setdefault((vuln, package), _Match(installed=installed))
        m.kev, m.severity = m.kev or kev, max(m.severity, severity)
        if fixed and fixed not in m.fixed and len(m.fixed) < MAX_FIXED:
            m.fixed += (fixed,)
    return out


def _regression(
    scan: ScanRun,
    at: datetime,
    key: str,
    vuln: str,
    package: str,
    kev: bool,
    severity: int,
    match: _Match,
) -> Regression:
    kev = kev or match.kev
    severity = max(severity, match.severity)
    return Regression(
        host_id=scan.host_id,
        kind=KIND,
        key=key,
        severity=KEV_SEVERITY if kev else FIXABLE_SEVERITY,
        opened_at=at,
        opened_scan=scan,
        # What the key stands for, and what the mail says: bounded, as it came from data files.
        details={
            "vuln": vuln,
            "package": package,
            "kev": kev,
            "severity": _label(severity),
            "installed": match.installed[:128],
            "fixed": ", ".join(match.fixed)[:400],
        },
    )


def _label(severity: int) -> str:
    try:
        return VulnSeverity(severity).label
    except ValueError:
        return ""


def _open(scan: ScanRun, new: dict[str, Regression]) -> list[Event]:
    if not new:
        return []
    try:
        with transaction.atomic():
            created = Regression.objects.bulk_create(new.values())
    except IntegrityError:
        # A concurrent run for this scan opened some first: one at a time, skipping those.
        created = []
        for regression in new.values():
            try:
                with transaction.atomic():
                    regression.save(force_insert=True)
            except IntegrityError:
                regression.pk = None
                continue
            created.append(regression)
    return Event.objects.bulk_create(Event(regression=r, phase=Event.Phase.OPENED) for r in created)


def _close(scan: ScanRun, at: datetime, closing: list[Regression]) -> list[Event]:
    if not closing:
        return []
    # The rows are locked (detect_vulnerabilities), so exactly these are closed, and announced.
    Regression.objects.filter(pk__in=[r.pk for r in closing]).update(closed_at=at, closed_scan=scan)
    return Event.objects.bulk_create(
        Event(regression=r, phase=Event.Phase.RECOVERED) for r in closing
    )

"""Vulnerability data as plain values: what an OSV record says, once parsed and checked.

Pure (no Django). vulndb.osv parses OSV JSON into these; vulndb.models stores them;
vulndb.matching decides which packages they affect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum


class VulnSeverity(IntEnum):
    UNKNOWN = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Range:
    type: str  # ECOSYSTEM, SEMVER or GIT (GIT ranges cannot match an installed version)
    # In the record's order: ("introduced", "0"), ("fixed", "2.36-9+deb12u3"), also
    # "last_affected" and "limit".
    events: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Affected:
    ecosystem: str  # "Debian:12", "Alpine:v3.20", "PyPI", "npm", "Maven", "Go"
    name: str  # for OS ecosystems, the source package
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()  # explicitly listed affected versions

    @property
    def fixed(self) -> tuple[str, ...]:
        """Every fixed version the ranges name, for display."""
        return tuple(v for r in self.ranges for kind, v in r.events if kind == "fixed")


@dataclass(frozen=True)
class Advisory:
    id: str
    modified: datetime
    published: datetime | None = None
    withdrawn: datetime | None = None
    aliases: tuple[str, ...] = ()
    summary: str = ""
    details: str = ""
    severity: VulnSeverity = VulnSeverity.UNKNOWN
    cvss_vector: str = ""
    cvss_score: float | None = None
    references: tuple[str, ...] = ()
    affected: tuple[Affected, ...] = field(default=())
    # OSV "upstream": the ids this record derives from. Debian's DSA/DLA and DEBIAN-CVE
    # records name their CVEs here, not in aliases.
    upstream: tuple[str, ...] = ()

    @property
    def group(self) -> str:
        """The id a person knows it by: its CVE when it has one (DSA-5514-1 and the GHSA of
        the same flaw are one vulnerability on the fleet page), else its own id."""
        for ident in (self.id, *self.aliases):
            if ident.startswith("CVE-"):
                return ident
        # A record derived from one CVE (DEBIAN-CVE-2023-4911, a DSA fixing one flaw) is that
        # CVE; one that fixes several stays itself.
        cves = [ident for ident in self.upstream if ident.startswith("CVE-")]
        return cves[0] if len(cves) == 1 else self.id

"""What an image holds, as plain data: the packages read from it and its OS release.

Pure (no Django): the readers (vulns.readers) build these from file contents, the
collector (scans.images) from the Engine API, and vulndb.matching matches them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class OsRelease:
    id: str  # os-release ID: debian, ubuntu, alpine, distroless is "debian" too
    version_id: str  # "12", "22.04", "3.20.3"
    pretty_name: str = ""
    codename: str = ""

    def ecosystem(self) -> str | None:
        """The OSV ecosystem of this release's OS packages ("Debian:12", "Alpine:v3.20",
        "Ubuntu:22.04"), or None for a distribution Posture has no data shape for."""
        raise NotImplementedError  # vulns.readers helper implements


@dataclass(frozen=True)
class Package:
    ecosystem: str  # OSV ecosystem, with the release for OS packages: "Debian:12", "PyPI"
    name: str  # the installed (binary) package's name
    version: str  # the installed (binary) version
    # OS packages are matched by their source package and source version (dpkg's
    # "Source: name (version)", apk's "o:" origin): advisories name sources, not binaries.
    source_name: str = ""
    source_version: str = ""
    purl: str = ""
    path: str = ""  # where it was read, e.g. "var/lib/dpkg/status"
    license: str = ""

    @property
    def match_name(self) -> str:
        return self.source_name or self.name

    @property
    def match_version(self) -> str:
        return self.source_version or self.version


@dataclass
class InventoryResult:
    """One image's inventory, or why there is none (assessed False with a reason)."""

    mode: str  # "os" or "deep"
    assessed: bool
    reason: str = ""  # why not assessed, or what was left out (e.g. "RPM database not read")
    os: OsRelease | None = None
    packages: list[Package] = field(default_factory=list)
    bytes_read: int = 0

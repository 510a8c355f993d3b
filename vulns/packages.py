"""What an image holds, as plain data: the packages read from it and its OS release.

Pure (no Django): the readers (vulns.readers) build these from file contents, the
collector (scans.images) from the Engine API, and vulndb.matching matches them.
"""

from __future__ import annotations

import re
import shlex
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
        version = self.version_id
        if self.id == "debian":
            major = _debian_major(version, self.codename, self.pretty_name)
            return f"Debian:{major}" if major else None
        if self.id == "ubuntu":
            match = re.fullmatch(r"(\d{2}\.\d{2})(?:\.\d+)?", version)
            return f"Ubuntu:{match.group(1)}" if match else None
        if self.id == "alpine":
            # Edge and pre-releases ("3.21_alpha20240923") have no advisory branch of their own.
            match = re.fullmatch(r"(\d+)\.(\d+)(?:\.\d+)*", version)
            return f"Alpine:v{match.group(1)}.{match.group(2)}" if match else None
        return None


# Debian's own names for its releases, for an os-release that gives no VERSION_ID (testing
# images, some distroless builds) but still names the codename.
DEBIAN_CODENAMES = {
    "stretch": "9",
    "buster": "10",
    "bullseye": "11",
    "bookworm": "12",
    "trixie": "13",
}


def _debian_major(version_id: str, codename: str, pretty_name: str) -> str | None:
    match = re.fullmatch(r"(\d{1,3})(?:\.\d+)*", version_id)
    if match:
        return match.group(1)
    if codename in DEBIAN_CODENAMES:
        return DEBIAN_CODENAMES[codename]
    # "Debian GNU/Linux 12 (bookworm)"; "Debian GNU/Linux trixie/sid" is testing: no release.
    match = re.search(r"\bLinux (\d{1,3})\b", pretty_name)
    return match.group(1) if match else None


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
    # setuid/setgid files seen in every layer's headers (path -> mode, uid, gid); None when
    # not every layer was read (os mode reads the package databases only).
    special_files: dict[str, tuple[int, int, int]] | None = None


MAX_NAME = 255
MAX_VERSION = 128
_MAX_OS_RELEASE_CHARS = 64 * 1024


def clean(value: object, limit: int) -> str | None:
    """`value` as bounded text without control, format or unassigned characters, else None."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    # isprintable() is False for categories C* (controls, bidi overrides, surrogates, private
    # use, unassigned) and separators other than the space: none belongs in a name or version.
    if not value or len(value) > limit or not value.isprintable():
        return None
    return value


def parse_os_release(text: str) -> OsRelease | None:
    """The os-release(5) fields Posture uses, or None when there is no ID to go on."""
    fields: dict[str, str] = {}
    for line in text[:_MAX_OS_RELEASE_CHARS].splitlines()[:200]:
        key, sep, raw = line.strip().partition("=")
        if not sep or not re.fullmatch(r"[A-Z0-9_]{1,64}", key):
            continue
        try:
            # The format is a subset of shell assignments: quotes and backslash escapes.
            value = clean(" ".join(shlex.split(raw, comments=False, posix=True)), MAX_NAME)
        except ValueError:
            continue
        if value is not None:
            fields[key] = value
    os_id = fields.get("ID", "").lower()
    if not os_id:
        return None
    version = fields.get("VERSION", "")
    # VERSION="12 (bookworm)" or "Debian GNU/Linux 12 (bookworm)"
    named = re.search(r"\(([a-z]+)\)", version)
    codename = fields.get("VERSION_CODENAME", "") or (named.group(1) if named else "")
    pretty = fields.get("PRETTY_NAME", "")
    if not re.search(r"\d", pretty) and re.search(r"\d", version):
        # Distroless sets PRETTY_NAME="Distroless" and keeps the release in VERSION.
        pretty = version
    return OsRelease(os_id, fields.get("VERSION_ID", ""), pretty, codename)

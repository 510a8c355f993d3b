"""Package inventories out of an image's files: which paths to read, and how to parse them.

Pure (no Django). The collector reads the files (archive GETs in OS mode, the image stream in
deep mode: vulns.tarstream) and hands them here as {root-relative path: bytes}. All of it is
untrusted: names and versions are bounded; a bad stanza is skipped and counted.
"""

from __future__ import annotations

import functools
import json
import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32

from packageurl import PackageURL

from vulns.packages import (
    MAX_NAME,
    MAX_VERSION,
    InventoryResult,
    OsRelease,
    Package,
    clean,
    parse_os_release,
)
from vulns.tarstream import resolve_path

OS_RELEASE_PATHS = ("etc/os-release", "usr/lib/os-release")
DPKG_STATUS = "var/lib/dpkg/status"
DPKG_STATUS_D = "var/lib/dpkg/status.d"
DPKG_INFO = "var/lib/dpkg/info"
APK_INSTALLED = "lib/apk/db/installed"
# Presence is enough: RPM databases are not parsed (no well-kept pure-Python reader for the
# BerkeleyDB or NDB formats; rpmdb.sqlite could be, later). A stat (HEAD archive) tells it.
RPM_PATHS = ("var/lib/rpm", "usr/lib/sysimage/rpm")
# What OS mode reads with container archive GETs.
OS_PATHS = (*OS_RELEASE_PATHS, DPKG_STATUS, DPKG_STATUS_D, APK_INSTALLED, RPM_PATHS[0])
RPM_FILES = ("Packages", "Packages.db", "rpmdb.sqlite")

MAX_STANZAS = 100_000
# Debian policy 5.6.7 allows these in a package name, 5.6.12 in a version.
_DEB_NAME = re.compile(r"[a-z0-9][a-z0-9.+-]*")
_DEB_VERSION = re.compile(r"(?:\d+:)?[A-Za-z0-9][A-Za-z0-9.+~:-]*")
_SOURCE = re.compile(r"(?P<name>\S+)(?:\s+\((?P<version>[^()]+)\))?")
_ECOSYSTEM_DISTRO = re.compile(r"(?P<os>Debian|Ubuntu|Alpine):v?(?P<release>[\d.]+)")


@dataclass
class Parsed:
    """What one package database gave: the packages, and how many stanzas were refused."""

    packages: list[Package] = field(default_factory=list)
    refused: int = 0
    owned: set[str] = field(default_factory=set)  # paths the package manager installed
    keys: set[object] = field(default_factory=set)

    def add(self, package: Package | None, key: object) -> bool:
        """Keep `package` unless it is None or a second entry for `key` (keep the first)."""
        if package is None or key in self.keys:
            self.refused += 1
            return False
        self.keys.add(key)
        self.packages.append(package)
        return True


# -- Paths ------------------------------------------------------------------------------------


def wanted_path(path: str, mode: str) -> bool:
    """True for a root-relative path whose contents the inventory of `mode` reads."""
    if path in OS_RELEASE_PATHS or path in (DPKG_STATUS, APK_INSTALLED):
        return True
    parent, base = posixpath.split(path)
    if parent == DPKG_STATUS_D:
        return True
    if any(parent == root for root in RPM_PATHS):
        return base in RPM_FILES
    if mode != "deep":
        return False
    if parent == DPKG_INFO:
        return base.endswith(".list")
    parts = path.split("/")
    if base == "METADATA":
        return len(parts) >= 2 and parts[-2].endswith(".dist-info")
    if base == "PKG-INFO":
        return len(parts) >= 2 and parts[-2].endswith(".egg-info")
    if base.endswith(".egg-info"):
        # A distutils install leaves PKG-INFO as a single file named after the project.
        return len(parts) >= 2 and parts[-2] in ("site-packages", "dist-packages")
    if base == "package.json":
        return _npm_package_dir(parts)
    if base == "pom.properties":
        return len(parts) >= 5 and parts[-5] == "META-INF" and parts[-4] == "maven"
    return False


def _npm_package_dir(parts: list[str]) -> bool:
    # Only a package installed directly under node_modules (node_modules/x/package.json or
    # node_modules/@scope/x/package.json): a package's own test fixtures are not installed.
    if len(parts) >= 3 and parts[-3] == "node_modules":
        return not parts[-2].startswith((".", "@"))
    if len(parts) >= 4 and parts[-4] == "node_modules":
        return parts[-3].startswith("@") and len(parts[-3]) > 1 and not parts[-2].startswith(".")
    return False


# -- dpkg -------------------------------------------------------------------------------------


def _distro(ecosystem: str) -> tuple[str, str]:
    """("debian", "debian-12") for "Debian:12": the purl namespace and distro qualifier."""
    os_name = ecosystem.split(":")[0].lower()
    match = _ECOSYSTEM_DISTRO.fullmatch(ecosystem)
    return os_name, f"{os_name}-{match.group('release')}" if match else ""


@functools.lru_cache(maxsize=65_536)
def _purl(kind: str, namespace: str | None, name: str, version: str, arch: str, distro: str) -> str:
    # Cached: images that share base layers repeat the same packages across a fleet.
    qualifiers = {key: value for key, value in (("arch", arch), ("distro", distro)) if value}
    try:
        # to_string() normalises and encodes; normalising in the constructor too doubled the
        # cost (~50 us a package, most of a 2,000-package parse).
        purl = PackageURL(kind, namespace, name, version, qualifiers, None, normalize_purl=False)
        return str(purl.to_string())
    except ValueError:
        return ""


# The fields read from a dpkg stanza; all are single-line, so continuation lines (a
# Description's, indented) never match at a line's start.
_DPKG_FIELD = re.compile(r"^(Package|Status|Version|Source|Architecture):[ \t]*(.*?)[ \t]*$", re.M)
# "hold ok installed" is installed too (held back from upgrades); "deinstall ok config-files"
# and half-installed states are not.
_INSTALLED = {("install", "ok", "installed"), ("hold", "ok", "installed")}
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def _paragraphs(text: str) -> Iterator[dict[str, str] | None]:
    """The key fields of each stanza (None: a key field twice, or past MAX_STANZAS).

    Not python-debian's Deb822, which parses every field: on a 1 MB, 2,000-stanza status file
    it takes 90-100 ms of the 0.25 s an OS inventory may take; this scan, 17-20 ms."""
    for count, stanza in enumerate(_BLANK_LINE.split(text.replace("\r\n", "\n"))):
        if count >= MAX_STANZAS:
            yield None
            return
        fields: dict[str, str] = {}
        refused = False
        for match in _DPKG_FIELD.finditer(stanza):
            # A key field named twice: which of the two would be the truth?
            refused = refused or match.group(1) in fields
            fields.setdefault(match.group(1), match.group(2))
        if refused or (not fields and stanza.strip()):
            yield None
        else:
            yield fields


def read_dpkg_status(
    text: str, ecosystem: str, path: str = DPKG_STATUS, *, installed_only: bool = True
) -> Parsed:
    """dpkg's status file (or a distroless status.d file, which has no Status field)."""
    parsed = Parsed()
    namespace, distro = _distro(ecosystem)
    for paragraph in _paragraphs(text):
        if paragraph is None:
            parsed.refused += 1
            continue
        if not paragraph:
            continue
        if installed_only and tuple(paragraph.get("Status", "").split()) not in _INSTALLED:
            continue
        package = _dpkg_package(paragraph, ecosystem, namespace, distro, path)
        parsed.add(package, (paragraph.get("Package"), paragraph.get("Architecture", "")))
    return parsed


def _dpkg_package(
    paragraph: Mapping[str, str], ecosystem: str, namespace: str, distro: str, path: str
) -> Package | None:
    name = clean(paragraph.get("Package"), MAX_NAME)
    version = clean(paragraph.get("Version"), MAX_VERSION)
    if not (name and version and _DEB_NAME.fullmatch(name) and _DEB_VERSION.fullmatch(version)):
        return None
    source_name, source_version = name, version
    source = paragraph.get("Source")
    if source:
        match = _SOURCE.fullmatch(source.strip())
        if not match or not _DEB_NAME.fullmatch(match.group("name")):
            return None
        source_name = match.group("name")
        # A binNMU ("1.2-3+b1") or a binary with its own epoch names its source's version
        # in parentheses; advisories are about that one.
        source_version = (match.group("version") or version).strip()
        if len(source_version) > MAX_VERSION or not _DEB_VERSION.fullmatch(source_version):
            return None
    purl = _purl(
        "deb", namespace, name, version, clean(paragraph.get("Architecture"), 32) or "", distro
    )
    return Package(ecosystem, name, version, source_name, source_version, purl, path)


def parse_dpkg_status(text: str, ecosystem: str, path: str = DPKG_STATUS) -> list[Package]:
    return read_dpkg_status(text, ecosystem, path).packages


def read_dpkg_status_d(files: Mapping[str, bytes], ecosystem: str, folder: str) -> Parsed:
    """Distroless keeps one stanza file per package in status.d, without a Status field."""
    parsed = Parsed()
    for path in sorted(files):
        if posixpath.dirname(path) == folder and not path.endswith(".md5sums"):
            one = read_dpkg_status(_text(files[path]), ecosystem, path, installed_only=False)
            parsed.refused += one.refused
            for package in one.packages:
                parsed.add(package, package.name)
    return parsed


def dpkg_owned_paths(files: Mapping[str, bytes]) -> set[str]:
    """The paths dpkg installed, from var/lib/dpkg/info/*.list (one absolute path a line)."""
    owned: set[str] = set()
    for path, data in files.items():
        if posixpath.dirname(path) == DPKG_INFO and path.endswith(".list"):
            owned.update(_owned_lines(_text(data).splitlines()))
    return owned


def _owned_lines(lines: Iterable[str]) -> Iterator[str]:
    for line in lines:
        path = line.strip().strip("/")
        if path and ".." not in path.split("/"):
            yield path


# -- apk --------------------------------------------------------------------------------------


def parse_apk_installed(text: str, ecosystem: str) -> tuple[list[Package], set[str]]:
    parsed = read_apk_installed(text, ecosystem)
    return parsed.packages, parsed.owned


def read_apk_installed(text: str, ecosystem: str, path: str = APK_INSTALLED) -> Parsed:
    """apk's installed database: "X:value" lines, a blank line between packages.

    Hand-written: no Python library reads it, and the format is one letter a line
    (https://wiki.alpinelinux.org/wiki/Apk_spec).
    """
    parsed = Parsed()
    namespace, distro = _distro(ecosystem)
    stanzas = re.split(r"\n\s*\n", text)
    parsed.refused += max(0, len(stanzas) - MAX_STANZAS)
    for stanza in stanzas[:MAX_STANZAS]:
        if not stanza.strip():
            continue
        fields: dict[str, str] = {}
        folder = ""
        owned: list[str] = []
        for line in stanza.splitlines():
            key, sep, value = line.partition(":")
            if not sep or len(key) != 1:
                continue
            if key == "F":
                folder = value.strip("/")
                owned.append(folder)
            elif key == "R":
                owned.append(f"{folder}/{value}" if folder else value)
            elif key not in fields:
                fields[key] = value
        package = _apk_package(fields, ecosystem, namespace, distro, path)
        if parsed.add(package, (fields.get("P"), fields.get("A", ""))):
            parsed.owned.update(_owned_lines(owned))
    return parsed


def _apk_package(
    fields: Mapping[str, str], ecosystem: str, namespace: str, distro: str, path: str
) -> Package | None:
    name = clean(fields.get("P"), MAX_NAME)
    version = clean(fields.get("V"), MAX_VERSION)
    if not name or not version or any(c.isspace() for c in name + version):
        return None
    origin = clean(fields.get("o", ""), MAX_NAME) or name
    arch = clean(fields.get("A", ""), 32) or ""
    purl = _purl("apk", namespace, name, version, arch, distro)
    license = clean(fields.get("L", ""), MAX_NAME) or ""
    # An origin's binaries carry its version: aports builds them together.
    return Package(ecosystem, name, version, origin, version, purl, path, license)


# -- Language packages ------------------------------------------------------------------------

_PURL_TYPES = {"PyPI": "pypi", "npm": "npm", "Maven": "maven"}


def _language(
    ecosystem: str,
    name: object,
    version: object,
    path: str,
    namespace: str | None = None,
    bare: str | None = None,
    license: object = "",
) -> Package | None:
    name, version = clean(name, MAX_NAME), clean(version, MAX_VERSION)
    if not name or not version or any(char.isspace() for char in name + version):
        return None
    purl = _purl(_PURL_TYPES[ecosystem], namespace, bare or name, version, "", "")
    return Package(
        ecosystem, name, version, purl=purl, path=path, license=clean(license, MAX_NAME) or ""
    )


def parse_python_metadata(data: bytes, path: str) -> Package | None:
    """A dist-info METADATA or egg-info PKG-INFO file (email headers: Name, Version)."""
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(data)
        return _language("PyPI", headers.get("Name"), headers.get("Version"), path)
    except (ValueError, TypeError, UnicodeError, LookupError):
        return None


def parse_npm_package(data: bytes, path: str) -> Package | None:
    """A package.json under node_modules: its name and version, nothing else trusted."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return None
    name = document.get("name") if isinstance(document, dict) else None
    if not isinstance(name, str):
        return None
    scope, _, bare = name.rpartition("/")
    if scope and not (scope.startswith("@") and len(scope) > 1):
        return None
    version, license = document.get("version"), document.get("license")
    return _language("npm", name, version, path, scope or None, bare, license)


def parse_pom_properties(data: bytes, path: str) -> Package | None:
    """META-INF/maven/<group>/<artifact>/pom.properties: groupId, artifactId, version."""
    fields: dict[str, str] = {}
    for key, sep, value in (line.partition("=") for line in _text(data).splitlines()[:1000]):
        if sep and not key.lstrip().startswith(("#", "!")):
            fields.setdefault(key.strip(), value.strip())
    group, artifact = (clean(fields.get(key), MAX_NAME) for key in ("groupId", "artifactId"))
    if not group or not artifact:
        return None
    return _language("Maven", f"{group}:{artifact}", fields.get("version"), path, group, artifact)


def read_language_packages(files: Mapping[str, bytes]) -> Parsed:
    parsed = Parsed()
    for path in sorted(files):
        base = posixpath.basename(path)
        if not wanted_path(path, "deep") or wanted_path(path, "os") or base.endswith(".list"):
            continue
        if base == "package.json":
            package = parse_npm_package(files[path], path)
        elif base == "pom.properties":
            package = parse_pom_properties(files[path], path)
        else:
            package = parse_python_metadata(files[path], path)
        parsed.add(package, path)
    return parsed


# -- The inventory ----------------------------------------------------------------------------


def _text(data: bytes) -> str:
    # Package databases are UTF-8 in practice; a stray byte becomes U+FFFD, which no name
    # or version check lets through, so only that stanza is refused.
    return data.decode("utf-8", errors="replace")


def _lookup(files: Mapping[str, bytes], links: Mapping[str, str], path: str) -> str | None:
    real = resolve_path(path, links) if links else path
    return real if real is not None and real in files else None


@dataclass
class _Found:
    """The OS part of an inventory, or why there is none."""

    os: OsRelease | None = None
    packages: list[Package] = field(default_factory=list)
    owned: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    reason: str = ""  # set when the OS part cannot be assessed
    has_os: bool = False


def _read_os(
    files: Mapping[str, bytes], links: Mapping[str, str], skipped: Mapping[str, str]
) -> _Found:
    found = _Found()
    release = next(filter(None, (_lookup(files, links, path) for path in OS_RELEASE_PATHS)), None)
    found.os = parse_os_release(_text(files[release])) if release else None
    status, apk = _lookup(files, links, DPKG_STATUS), _lookup(files, links, APK_INSTALLED)
    folder = (resolve_path(DPKG_STATUS_D, links) if links else None) or DPKG_STATUS_D
    status_d = any(posixpath.dirname(path) == folder for path in files)
    rpm = [p for p in (*files, *skipped) if any(p == r or p.startswith(r + "/") for r in RPM_PATHS)]
    too_big = [p for p in skipped if p in (DPKG_STATUS, APK_INSTALLED) or p.startswith(folder)]
    found.has_os = bool(found.os or status or status_d or apk or rpm or too_big)
    ecosystem = found.os.ecosystem() if found.os else None
    if too_big:
        found.reason = f"/{too_big[0]} is too large to read ({skipped[too_big[0]]})"
    else:
        found.reason = _why_not(found.os, ecosystem, bool(status or status_d or apk), rpm)
    if found.reason or ecosystem is None:
        return found
    parts: list[tuple[str, Parsed]] = []
    if status:
        parts.append((status, read_dpkg_status(_text(files[status]), ecosystem, status)))
    if status_d:
        parts.append((folder, read_dpkg_status_d(files, ecosystem, folder)))
    if status or status_d:
        found.owned |= dpkg_owned_paths(files)
    if apk:
        parts.append((apk, read_apk_installed(_text(files[apk]), ecosystem, apk)))
    names: set[tuple[str, str]] = set()
    for path, parsed in parts:
        if parsed.refused and not parsed.packages:
            found.reason = f"/{path} does not parse ({parsed.refused} entries refused)"
            return found
        if parsed.refused:
            found.notes.append(f"{parsed.refused} malformed entries skipped in /{path}")
        found.owned |= parsed.owned
        new = [p for p in parsed.packages if (p.name, p.version) not in names]
        names.update((p.name, p.version) for p in new)
        found.packages += new
    return found


def _why_not(os: OsRelease | None, ecosystem: str | None, has_db: bool, rpm: list[str]) -> str:
    """Why the OS packages cannot be assessed, in words a person can act on; "" if they can."""
    if not has_db and rpm:
        return f"RPM databases are not read yet (found /{rpm[0]})"
    if not has_db and os:
        return f"{os.pretty_name or os.id}: no package database found (dpkg, apk or rpm)"
    if not has_db:
        return (
            "no /etc/os-release and no package database (dpkg, apk, rpm): an empty or "
            "scratch-based image, or a distribution this version does not read"
        )
    if os is None:
        return "a package database but no readable /etc/os-release to tell the release"
    if ecosystem is None:
        name = os.pretty_name or f"{os.id} {os.version_id}".strip()
        return f"no OSV ecosystem for {name} (ID={os.id})"
    return ""


def inventory_from_files(
    files: Mapping[str, bytes],
    mode: str,
    links: Mapping[str, str] | None = None,
    *,
    skipped: Mapping[str, str] | None = None,
) -> InventoryResult:
    """One image's inventory from the files read out of it (`wanted_path` decides which).

    `links` are the image's symlinks (path -> target) so /etc/os-release ->
    ../usr/lib/os-release resolves; `skipped` the wanted files left unread (too large).
    """
    links = links or {}
    skipped = skipped or {}
    found = _read_os(files, links, skipped)
    result = InventoryResult(
        mode=mode, assessed=False, os=found.os, bytes_read=sum(len(v) for v in files.values())
    )
    language = Parsed()
    if mode == "deep":
        language = read_language_packages(files)
        owned = {resolve_path(p, links) or p for p in found.owned} if links else found.owned
        # A Python or npm package whose files the OS package manager installed is the distro
        # package already in the inventory: counting it twice doubles its advisories.
        language.packages = [
            p
            for p in language.packages
            if p.path not in owned and posixpath.dirname(p.path) not in owned
        ]
        if language.refused:
            found.notes.append(f"{language.refused} language package files did not parse")
    if found.reason and not (mode == "deep" and not found.has_os and language.packages):
        result.reason = found.reason
        return result
    if not found.has_os:
        found.notes.insert(0, "no OS packages (no os-release or package database)")
    result.assessed = True
    result.packages = found.packages + language.packages
    result.reason = "; ".join(found.notes)
    return result

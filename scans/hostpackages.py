"""OWASP rule 0 from the host's own package database: which distribution packages provide
the Engine, containerd, runc and the running kernel, and which of the distribution's
advisories affect those builds (vulns.hostmatch).

The collector (scans.hostaccess, over SSH or locally) reads /etc/os-release and only the
stanzas of those packages from dpkg's status file or apk's installed database. An RPM
database is seen but not read (as for images: no maintained pure-Python reader). A
component installed otherwise (docker-ce, containerd.io from Docker's repository, a static
binary) gets no entry: its version is upstream's, and the upstream table decides it.
"""

from __future__ import annotations

import re
from typing import Any

from rules.facts import FileStat, HostAccess, HostPackage, HostPackages
from rules.host_access import APK_INSTALLED, DPKG_STATUS, OS_RELEASES, RPM_DATABASES
from vulns import hostmatch
from vulns.packages import Package, parse_os_release
from vulns.readers import read_apk_installed, read_dpkg_status

# The distributions' own package names, per component. Docker's packages (docker-ce,
# containerd.io) are upstream builds: left to the upstream version table.
DPKG_NAMES = {"engine": ("docker.io",), "containerd": ("containerd",), "runc": ("runc",)}
APK_NAMES = {
    "engine": ("docker-engine", "docker"),
    "containerd": ("containerd",),
    "runc": ("runc",),
}


def assess(access: HostAccess, info: dict[str, Any]) -> HostPackages:
    """What the package database says of the container stack, matched; never raises a
    parse problem: an unreadable part becomes the reason."""
    release = _os_release(access)
    if isinstance(release, str):
        return HostPackages(reason=release, via=access.via)
    ecosystem, os_name = release
    kind, text, reason = _database(access)
    if text is None:
        return HostPackages(
            database=kind, ecosystem=ecosystem, os_name=os_name, reason=reason, via=access.via
        )
    if not ecosystem:
        return HostPackages(
            database=kind,
            os_name=os_name,
            reason=f"Posture has no vulnerability data shape for {os_name}",
            via=access.via,
        )
    # grep prints "--" between the groups of lines it kept: a stanza boundary.
    content = re.sub(r"(?m)^--$", "", text)
    if kind == "dpkg":
        packages = read_dpkg_status(content, ecosystem, DPKG_STATUS.lstrip("/")).packages
    else:
        packages = read_apk_installed(content, ecosystem, APK_INSTALLED.lstrip("/")).packages
    chosen = _components(packages, kind, info)
    data = hostmatch.has_data(ecosystem)
    matched = hostmatch.match_packages(list(chosen.values())) if data else []
    components = {
        name: HostPackage(
            name=package.name,
            version=package.version,
            source=package.match_name,
            source_version=package.match_version,
            advisories=matched[i] if matched else (),
        )
        for i, (name, package) in enumerate(chosen.items())
    }
    return HostPackages(
        database=kind,
        ecosystem=ecosystem,
        os_name=os_name,
        data=data,
        components=components,
        via=access.via,
    )


def _os_release(access: HostAccess) -> tuple[str, str] | str:
    """(OSV ecosystem or "", pretty name), or why the release is unknown."""
    for path in OS_RELEASES:
        if path in access.texts:
            parsed = parse_os_release(access.texts[path])
            if parsed is None:
                return f"{path} names no distribution"
            name = parsed.pretty_name or f"{parsed.id} {parsed.version_id}".strip()
            return parsed.ecosystem() or "", name
    if any(path in access.denied for path in OS_RELEASES):
        return "reading the host's os-release was refused"
    return "the host's os-release could not be read"


def _exists(access: HostAccess, path: str) -> bool:
    found = access.files.get(path)
    return isinstance(found, FileStat) and found.exists


def _database(access: HostAccess) -> tuple[str, str | None, str]:
    """(dpkg/apk/rpm/"", the stanzas read or None, why they were not)."""
    for kind, path in (("dpkg", DPKG_STATUS), ("apk", APK_INSTALLED)):
        if path in access.texts:
            return kind, access.texts[path], ""
        if path in access.denied:
            return kind, None, f"reading {path} was refused"
    if any(_exists(access, path) for path in RPM_DATABASES):
        return "rpm", None, "Posture reads dpkg and apk databases, not the host's RPM one"
    if all(path in access.files for path in (DPKG_STATUS, APK_INSTALLED)):
        return "", None, "the host has no dpkg or apk package database"
    return "", None, "the host's package database was not collected"


def _components(packages: list[Package], kind: str, info: dict[str, Any]) -> dict[str, Package]:
    names = DPKG_NAMES if kind == "dpkg" else APK_NAMES
    by_name = {p.name: p for p in packages}
    chosen = {}
    for component, candidates in names.items():
        found = next((by_name[n] for n in candidates if n in by_name), None)
        if found is not None:
            chosen[component] = found
    kernel = _kernel(by_name, kind, str(info.get("KernelVersion") or ""))
    if kernel is not None:
        chosen["kernel"] = kernel
    return chosen


def _kernel(by_name: dict[str, Package], kind: str, running: str) -> Package | None:
    """The package of the running kernel: Debian and Ubuntu name it after `uname -r`
    (linux-image-6.1.0-18-amd64); Alpine after its flavour (6.6.31-0-lts: linux-lts
    6.6.31-r0). None for a kernel no package provides (a VM's or a custom build)."""
    if not running:
        return None
    if kind == "dpkg":
        return by_name.get(f"linux-image-{running}")
    match = re.fullmatch(r"(\d+(?:\.\d+)+)-(\d+)-([a-z0-9]+)", running)
    if not match:
        return None
    package = by_name.get(f"linux-{match.group(3)}")
    expected = f"{match.group(1)}-r{match.group(2)}"
    return package if package is not None and package.version == expected else None

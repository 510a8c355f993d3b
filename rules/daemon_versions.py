"""Daemon rules on versions: OWASP cheat sheet rule 0, keep the host and Docker up to date.

Read from GET /version (HostFacts.version) and GET /info (HostFacts.info). Distribution
packages often backport fixes without changing the upstream version. So where the host's
own package database was read (SSH, or a daemon on the worker's machine: HostFacts.packages)
and the component is a distribution package, the distribution's advisories decide (an
update with a fix exists: FAIL, with the advisory; none: PASS). Otherwise the upstream table
decides, and a vendor build below the fixed release is UNKNOWN, not FAIL, with what would
decide it.

On Podman the Engine table does not apply (its releases are another product line), and
runc is read from the "OCI Runtime (runc)" component Podman reports in GET /version.
"""

from __future__ import annotations

import re
from typing import Any

from rules import versions
from rules.base import (
    MISSING,
    Evidence,
    Outcome,
    Remediation,
    Result,
    Scope,
    Severity,
    dig,
    failed,
    not_applicable,
    passed,
    rule,
    unknown,
)
from rules.engines import is_podman, not_supported, podman_runtime
from rules.facts import HostFacts
from rules.fields import records, text

# The fixed releases come from rules.versions: an operator-updatable table.
VERSION = re.compile(r"^v?(\d+\.\d+(?:\.\d+)*)(.*)$")  # a bare commit hash must not parse
# Upstream pre-release and old "-ce"/"-ee" suffixes; anything else is a vendor rebuild.
UPSTREAM_SUFFIX = re.compile(r"^(-(rc|beta|alpha)[.\d]*|-c?e|-ee|-\d+-g[0-9a-f]+)?$", re.I)
# Distribution packaging marks, which may sit in GitCommit while Version looks upstream.
VENDOR_MARK = re.compile(r"ubuntu|deb\d|dfsg|\+ds|~|\.el\d|\.fc\d|amzn|suse", re.I)


def parse_version(version: str, commit: str = "") -> tuple[tuple[int, ...], bool] | None:
    """(numeric release, built by a vendor that may backport fixes), or None if unreadable."""
    match = VERSION.match(version.strip())
    if not match:
        return None
    release = tuple(int(part) for part in match.group(1).split("."))
    vendor = not UPSTREAM_SUFFIX.match(match.group(2)) or bool(VENDOR_MARK.search(commit))
    return release, vendor


def component(h: HostFacts, name: str) -> dict[str, Any] | None:
    found = records(h.version, "Components")
    if isinstance(found, Result):
        return None
    return next((c for c in found if str(c.get("Name", "")).lower() == name), None)


def vendor_unknown(what: str, version: str, h: HostFacts | None = None) -> Result:
    packages = h.packages if h is not None else None
    if packages is not None and packages.reason:
        why = f"Posture could not decide it from the host's packages: {packages.reason}"
    elif packages is not None:
        why = f"the host's {packages.database or 'package'} database names no such package"
    else:
        why = (
            "give Posture SSH access to the host and it reads the host's package database "
            "to decide from the distribution's own advisories"
        )
    return unknown(
        f"{what} {version} is a distribution build below the upstream fixed release; the "
        f"vendor may have backported the fix ({why})"
    )


def from_packages(h: HostFacts, component: str, reported: str) -> Result | None:
    """The verdict of the distribution's own advisories on the package that provides
    `component`, or None when no distribution package does (the upstream table decides).

    FAIL when an advisory has a fixed build above the installed one (an update exists:
    rule 0 is "keep it up to date"); advisories without a fix yet are evidence only. A
    running version other than the package's means the daemon was not restarted after an
    upgrade (or runs another binary): the package then says nothing of what runs."""
    packages = h.packages
    found = packages.components.get(component) if packages is not None else None
    if packages is None or found is None:
        return None
    label = f"{found.name} {found.version}"
    running = parse_version(reported)
    installed = parse_version(found.version.split(":", 1)[-1])
    if (
        running
        and installed
        and component != "kernel"
        and running[0] != installed[0][: len(running[0])]
    ):
        return unknown(
            f"{reported} runs, but the host's package is {label}: restart the daemon after "
            "the upgrade (or find which binary runs)"
        )
    if not packages.data:
        return unknown(
            f"{label} is {packages.os_name}'s package, and no vulnerability data for "
            f"{packages.ecosystem} is imported: import it (manage.py vulndb import, OSV "
            f"{packages.ecosystem})"
        )
    evidence = [Evidence(f"package {found.name} ({packages.ecosystem})", found.version)]
    fixable = [a for a in found.advisories if a.fixed]
    unfixed = len(found.advisories) - len(fixable)
    if unfixed:
        evidence.append(Evidence("advisories without a fix yet", str(unfixed)))
    if not fixable:
        evidence.append(Evidence(f"{packages.ecosystem} advisories with a fix above it", "none"))
        return Result(Outcome.PASS, tuple(evidence))
    for advisory in fixable[:5]:
        evidence.append(Evidence(advisory.id, f"fixed in {advisory.fixed}"))
    if len(fixable) > 5:
        evidence.append(Evidence("more advisories with a fix", str(len(fixable) - 5)))
    return Result(Outcome.FAIL, tuple(evidence))


def engine_version(h: HostFacts) -> tuple[str, str, str] | Result:
    """(evidence field, version, git commit) of the Engine, from /version."""
    engine = component(h, "engine")
    version = text(h.version, "Version")
    if isinstance(version, str) and version:
        commit = dig(engine, "Details.GitCommit") if engine else dig(h.version, "GitCommit")
        return "Version", version, commit if isinstance(commit, str) else ""
    if engine and isinstance(engine.get("Version"), str):
        commit = dig(engine, "Details.GitCommit")
        return "Components[Engine].Version", engine["Version"], str(commit or "")
    return unknown("the Engine version is absent from GET /version")


@rule(
    id="DMN-ENGINE-VERSION",
    title="Docker Engine predates current security fixes",
    title_fr="Docker Engine antérieur aux correctifs de sécurité actuels",
    severity=Severity.HIGH,
    scope=Scope.DAEMON,
    rationale=(
        "Releases before 25.0.2 (24.0.9 on the 24 line) miss the January 2024 'Leaky "
        "Vessels' fixes for build-time container escapes and cache poisoning; older lines "
        "are out of support and got no fix at all. Podman's releases are another product "
        "line: the rule does not apply to it."
    ),
    rationale_fr=(
        "Les versions antérieures à 25.0.2 (24.0.9 pour la branche 24) n'ont pas les "
        "correctifs « Leaky Vessels » de janvier 2024 contre les évasions à la "
        "construction et l'empoisonnement du cache ; les branches plus anciennes ne sont "
        "plus maintenues et n'ont reçu aucun correctif. Les versions de Podman forment "
        "une autre gamme : la règle ne s'y applique pas."
    ),
    remediation=Remediation(
        en=(
            "Upgrade Docker Engine to a supported release; installed from the distribution, "
            "apply its security update (apt-get install --only-upgrade docker.io, or apk "
            "upgrade docker) and restart the daemon. Keep the host kernel patched too: "
            "containers share it."
        ),
        fr=(
            "Mettez Docker Engine à jour vers une version maintenue ; installé depuis la "
            "distribution, appliquez sa mise à jour de sécurité (apt-get install "
            "--only-upgrade docker.io, ou apk upgrade docker) et redémarrez le démon. Gardez "
            "aussi le noyau de l'hôte à jour : les conteneurs le partagent."
        ),
    ),
    owasp=(0,),
    cis=("1.2.2",),
    cis_v18=("1.2.2",),
    cis_level=1,
    decided_by="the distribution's advisories on the host's docker.io (apk: docker) package "
    "when the host's package database is readable; else Version (or "
    "Components[Engine].Version) and GitCommit from GET /version",
)
def engine_outdated(h: HostFacts) -> Result:
    if is_podman(h):
        return not_supported("Docker Engine release line")
    read = engine_version(h)
    if isinstance(read, Result):
        return read
    field, version, commit = read
    decided = from_packages(h, "engine", version)
    if decided is not None:
        return decided
    parsed = parse_version(version, commit)
    if parsed is None:
        return unknown(f"cannot read the Engine version {version!r}")
    release, vendor = parsed
    if not versions.below_fixed(release, versions.table()["engine"]):
        return passed(field, version)
    return vendor_unknown("Docker Engine", version, h) if vendor else failed(field, version)


def runc_version(h: HostFacts) -> tuple[str, str, str] | Result:
    runc = component(h, "runc")
    if runc and isinstance(runc.get("Version"), str):
        commit = dig(runc, "Details.GitCommit")
        return "Components[runc].Version", runc["Version"], str(commit or "")
    commit = dig(h.info, "RuncCommit.ID")
    if isinstance(commit, str) and commit:
        return "RuncCommit.ID", commit, commit
    if commit is MISSING:
        return unknown("the runc version is absent from GET /version and GET /info")
    return unknown("the daemon reports no runc version")


@rule(
    id="DMN-RUNC-VERSION",
    title="runc vulnerable to the CVE-2024-21626 container escape",
    title_fr="runc vulnérable à l'évasion de conteneur CVE-2024-21626",
    severity=Severity.HIGH,
    scope=Scope.DAEMON,
    rationale=(
        "runc before 1.1.12 leaks a host file descriptor into new containers: a malicious "
        "image or a docker exec can reach the host filesystem as root ('Leaky Vessels'). "
        "Podman names its runtime in GET /version; with crun the flaw does not apply."
    ),
    rationale_fr=(
        "runc avant 1.1.12 laisse fuir un descripteur de fichier de l'hôte dans les "
        "nouveaux conteneurs : une image malveillante ou un docker exec peut atteindre le "
        "système de fichiers de l'hôte en root (« Leaky Vessels »). Podman indique son "
        "runtime dans GET /version ; avec crun, la faille ne s'applique pas."
    ),
    remediation=Remediation(
        en=(
            "Upgrade runc to 1.1.12 or later (with Docker's packages, update containerd.io; "
            "with the distribution's, apply its security update of runc, which may keep an "
            "older number), then restart containers so they run under the fixed runtime."
        ),
        fr=(
            "Mettez runc à jour en 1.1.12 ou plus (avec les paquets Docker, mettez à jour "
            "containerd.io ; avec ceux de la distribution, appliquez sa mise à jour de "
            "sécurité de runc, qui peut garder un numéro plus ancien), puis redémarrez les "
            "conteneurs sous le runtime corrigé."
        ),
    ),
    owasp=(0,),
    cis=("1.2.2",),
    cis_v18=("1.2.2",),
    cis_level=1,
    decided_by=(
        "the distribution's advisories on the host's runc package when the host's package "
        "database is readable; else Components[runc].Version from GET /version, else "
        "RuncCommit.ID from GET /info; Components[OCI Runtime (runc)].Version on Podman"
    ),
)
def runc_outdated(h: HostFacts) -> Result:
    runtime = podman_runtime(h)
    if runtime is not None and runtime.name != "runc":
        return not_applicable(f"the engine runs {runtime.name}, not runc: the flaw is runc's")
    read = runc_version(h) if runtime is None else (runtime.field, runtime.version, runtime.commit)
    if isinstance(read, Result):
        return read
    field, version, commit = read
    decided = from_packages(h, "runc", version) if runtime is None else None
    if decided is not None:
        return decided
    parsed = parse_version(version, commit)
    if parsed is None:
        return unknown(f"cannot read the runc version {version!r}")
    release, vendor = parsed
    if not versions.below_fixed(release, versions.table()["runc"]):
        return passed(field, version)
    return vendor_unknown("runc", version, h) if vendor else failed(field, version)


@rule(
    id="DMN-CONTAINERD-VERSION",
    title="containerd predates the runc escape fix",
    title_fr="containerd antérieur au correctif de l'évasion runc",
    severity=Severity.HIGH,
    scope=Scope.DAEMON,
    rationale=(
        "containerd releases before 1.6.28 and 1.7.13 bundle a runc vulnerable to "
        "CVE-2024-21626 where runc comes with containerd (the containerd.io package)."
    ),
    rationale_fr=(
        "Les versions de containerd antérieures à 1.6.28 et 1.7.13 embarquent un runc "
        "vulnérable à CVE-2024-21626 quand runc est livré avec containerd (paquet "
        "containerd.io)."
    ),
    remediation=Remediation(
        en="Upgrade containerd (containerd.io) to 1.6.28, 1.7.13 or later, or apply the "
        "distribution's security update of its containerd package, then restart the daemon "
        "and the containers.",
        fr="Mettez containerd (containerd.io) à jour en 1.6.28, 1.7.13 ou plus, ou "
        "appliquez la mise à jour de sécurité de la distribution pour son paquet containerd, "
        "puis redémarrez le démon et les conteneurs.",
    ),
    owasp=(0,),
    cis=("1.2.2",),
    cis_v18=("1.2.2",),
    cis_level=1,
    decided_by="the distribution's advisories on the host's containerd package when the "
    "host's package database is readable; else Components[containerd].Version from GET "
    "/version against rules/data/minimum_versions.json (POSTURE_MIN_VERSIONS overrides it)",
)
def containerd_outdated(h: HostFacts) -> Result:
    if is_podman(h):
        return not_supported("containerd (Podman runs without it)")
    found = component(h, "containerd")
    if not found or not isinstance(found.get("Version"), str):
        return unknown("the containerd version is absent from GET /version")
    version = found["Version"]
    decided = from_packages(h, "containerd", version)
    if decided is not None:
        return decided
    parsed = parse_version(version, str(dig(found, "Details.GitCommit") or ""))
    if parsed is None:
        return unknown(f"cannot read the containerd version {version!r}")
    release, vendor = parsed
    verdict = versions.below_fixed(release, versions.table()["containerd"])
    if verdict is None:
        return unknown(f"containerd {version} is on a line the version table does not cover")
    if not verdict:
        return passed("Components[containerd].Version", version)
    if vendor:
        return vendor_unknown("containerd", version, h)
    return failed("Components[containerd].Version", version)


@rule(
    id="DMN-KERNEL-VERSION",
    title="Host kernel vulnerable to a known container escape",
    title_fr="Noyau de l'hôte vulnérable à une évasion de conteneur connue",
    severity=Severity.CRITICAL,
    scope=Scope.DAEMON,
    rationale=(
        "Containers share the host's kernel: a kernel privilege escalation such as Dirty "
        "Pipe or Dirty COW, run from the best-isolated container, is root on the host."
    ),
    rationale_fr=(
        "Les conteneurs partagent le noyau de l'hôte : une élévation de privilèges du noyau "
        "comme Dirty Pipe ou Dirty COW, lancée depuis le conteneur le mieux isolé, donne "
        "root sur l'hôte."
    ),
    remediation=Remediation(
        en="Install the distribution's current kernel and reboot into it; check with `uname -r`.",
        fr="Installez le noyau à jour de la distribution et redémarrez dessus ; vérifiez "
        "avec `uname -r`.",
    ),
    owasp=(0,),
    cis=("1.2.1",),
    cis_v18=("1.2.1",),
    cis_level=1,
    decided_by="the distribution's advisories on the running kernel's package "
    "(linux-image-<KernelVersion>, Alpine linux-<flavour>) when the host's package database "
    "is readable; else KernelVersion from GET /info against the kernel entries of "
    "rules/data/minimum_versions.json (POSTURE_MIN_VERSIONS overrides it)",
)
def kernel_outdated(h: HostFacts) -> Result:
    kernel = text(h.info, "KernelVersion")
    if isinstance(kernel, Result):
        return kernel
    decided = from_packages(h, "kernel", kernel)
    if decided is not None:
        return decided
    match = re.match(r"^(\d+\.\d+(?:\.\d+)?)(.*)$", kernel.strip())
    if not match:
        return unknown(f"cannot read the kernel version {kernel!r}")
    release = tuple(int(p) for p in match.group(1).split("."))
    # Distribution kernels ("6.1.0-18-amd64", "5.4.0-150-generic") carry backported fixes
    # under an old upstream number: below the fix they are unknown, not failing.
    vendor = bool(match.group(2))
    for entry in versions.table()["kernel"]:
        if versions.below_fixed(release, entry):
            if vendor:
                return vendor_unknown(
                    f"kernel {kernel} (upstream fix for {entry['cve'].split(' ')[0]})", "", h
                )
            return failed("KernelVersion", kernel)
    return passed("KernelVersion", kernel)

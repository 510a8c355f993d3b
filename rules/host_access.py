"""What the host-level rules read over SSH, and how they read it.

The collector (scans.hostaccess) gathers exactly the paths and records named here into a
HostAccess; the rules (host, host_audit, host_settings, host_files) read them back through
the helpers below, which turn every gap into an UNKNOWN with its cause: no SSH at all,
a path the SSH user was refused, or a path that was never collected (the reason then
carries the collector's own note, e.g. "incomplete: timed out").
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable

from rules.base import Cause, Evidence, Outcome, Result, unknown
from rules.facts import FileStat, HostAccess, HostFacts

# Paths of CIS Docker Benchmark v1.6.0 sections 1.1 and 3.
ETC_DOCKER = "/etc/docker"
DAEMON_JSON = "/etc/docker/daemon.json"
CERTS_D = "/etc/docker/certs.d"
DEFAULT_DOCKER = "/etc/default/docker"
SYSCONFIG_DOCKER = "/etc/sysconfig/docker"
CONTAINERD_CONFIG = "/etc/containerd/config.toml"
RUN_CONTAINERD = "/run/containerd"
CONTAINERD_SOCK = "/run/containerd/containerd.sock"
DATA_ROOT = "/var/lib/docker"
DOCKER_SOCKS = ("/var/run/docker.sock", "/run/docker.sock")
# systemd's search order: an administrator's copy in /etc overrides the packaged unit.
UNIT_DIRS = ("/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
DROPIN_DIR = "/etc/systemd/system/docker.service.d"
DOCKERD_BINARIES = ("/usr/bin/dockerd", "/usr/sbin/dockerd", "/usr/local/bin/dockerd")
RUNTIME_BINARIES = (
    "/usr/bin/containerd",
    "/usr/bin/containerd-shim",
    "/usr/bin/containerd-shim-runc-v1",
    "/usr/bin/containerd-shim-runc-v2",
    "/usr/bin/runc",
)
GROUP_FILE = "/etc/group"
AUDIT_RULES = "/etc/audit/audit.rules"
AUDIT_RULES_DIR = "/etc/audit/rules.d"
# The mount table with device numbers and each mount's root: /proc/mounts cannot tell a
# bind mount (dockerd bind-mounts its own data-root) from a separate partition.
MOUNTINFO = "/proc/self/mountinfo"
# The host's release and package databases, for OWASP rule 0 (rules.daemon_versions): only
# the stanzas of the container stack's packages are read (grep), not the whole database.
OS_RELEASES = ("/etc/os-release", "/usr/lib/os-release")
DPKG_STATUS = "/var/lib/dpkg/status"
APK_INSTALLED = "/lib/apk/db/installed"
RPM_DATABASES = ("/var/lib/rpm", "/usr/lib/sysimage/rpm")
PACKAGE_GREPS: tuple[tuple[str, str], ...] = (
    (DPKG_STATUS, r"^Package: (docker\.io|docker-ce|containerd(\.io)?|runc|linux-image-.+)$"),
    (APK_INSTALLED, r"^P:(docker|docker-engine|containerd|runc|linux-.+)$"),
)


def unit_paths(name: str) -> tuple[str, ...]:
    return tuple(f"{directory}/{name}" for directory in UNIT_DIRS)


BASE_STATS: tuple[str, ...] = (
    *DOCKERD_BINARIES,
    *RUNTIME_BINARIES,
    RUN_CONTAINERD,
    CONTAINERD_SOCK,
    DATA_ROOT,
    ETC_DOCKER,
    DAEMON_JSON,
    CERTS_D,
    *unit_paths("docker.service"),
    *unit_paths("docker.socket"),
    DROPIN_DIR,
    DEFAULT_DOCKER,
    SYSCONFIG_DOCKER,
    CONTAINERD_CONFIG,
    *DOCKER_SOCKS,
    GROUP_FILE,
    AUDIT_RULES,
    AUDIT_RULES_DIR,
    *OS_RELEASES,
    DPKG_STATUS,
    APK_INSTALLED,
    *RPM_DATABASES,
)
BASE_READS: tuple[str, ...] = (
    DAEMON_JSON,
    DEFAULT_DOCKER,
    SYSCONFIG_DOCKER,
    *unit_paths("docker.service"),
    GROUP_FILE,
    AUDIT_RULES,
    *OS_RELEASES,
)
# Directories whose entries are stat'ed (two levels: certs.d/<registry>/<file>) or read.
LISTED_STATS: tuple[str, ...] = (CERTS_D,)
LISTED_READS: tuple[tuple[str, str], ...] = ((AUDIT_RULES_DIR, ".rules"), (DROPIN_DIR, ".conf"))

# Keys of HostAccess.commands.
AUDITCTL = "auditctl -l"
AUDITCTL_MISSING = "auditctl"  # value "not installed" when the host has no auditctl
PROCESSES = "processes"  # "ok" when /proc was listed, "unavailable" otherwise
DOCKERD_PREFIX = "dockerd "  # "dockerd <pid>" -> its argv, NUL-separated
LISTED_PREFIX = "ls "  # "ls <dir>" -> number of entries seen
COLLECTION = "collection"  # "complete" or "incomplete: <why>"


def listed_key(directory: str) -> str:
    return LISTED_PREFIX + directory


def listing_denied(directory: str) -> str:
    """The HostAccess.denied entry of a directory that could be stat'ed but not listed."""
    return directory.rstrip("/") + "/*"


def no_ssh(note: str = "") -> Result:
    # `note`: why the host's files were not read on the worker's machine either.
    why = f" (not read locally: {note})" if note else ""
    return unknown(
        "host-level check: the host is not reachable over SSH, so its files and processes "
        f"could not be inspected{why}",
        Cause.NO_SSH,
    )


def access_of(h: HostFacts) -> HostAccess | Result:
    return no_ssh(h.host_note) if h.host is None else h.host


def _how(access: HostAccess | None) -> str:
    return "on the worker's machine" if access is not None and access.via == "local" else "over SSH"


def not_collected(access: HostAccess, what: str) -> Result:
    note = access.commands.get(COLLECTION, "")
    suffix = f" (host collection {note})" if note.startswith("incomplete") else ""
    return unknown(f"{what} was not collected {_how(access)}{suffix}")


def denied(what: str, access: HostAccess | None = None) -> Result:
    user = "the worker's user" if access is not None and access.via == "local" else "the SSH user"
    return unknown(f"{what}: permission denied to {user}", Cause.PERMISSION_DENIED)


def stat_of(access: HostAccess, path: str) -> FileStat | Result:
    found = access.files.get(path)
    if found is not None:
        return found
    if path in access.denied:
        return denied(path if path.endswith("/*") else f"stat {path}", access)
    return not_collected(access, f"stat of {path}")


def text_of(access: HostAccess, path: str) -> str | None | Result:
    """The file's contents; None when the file does not exist."""
    if path in access.texts:
        return access.texts[path]
    found = access.files.get(path)
    if found is not None and not found.exists:
        return None
    if path in access.denied:
        return denied(f"reading {path}", access)
    return not_collected(access, f"the contents of {path}")


def listed(access: HostAccess, directory: str) -> list[str] | Result:
    """Entries of a listed directory (absent directory: none), from what was stat'ed."""
    if listed_key(directory) not in access.commands:
        found = stat_of(access, directory)
        if isinstance(found, FileStat) and not found.exists:
            return []
        if listing_denied(directory) in access.denied:
            return denied(f"listing {directory}", access)
        return found if isinstance(found, Result) else not_collected(access, f"{directory}/*")
    # Entries were stat'ed (S records), read (F records) or refused (denied), by listing kind.
    prefix = directory.rstrip("/") + "/"
    seen = {*access.files, *access.texts, *access.denied}
    return sorted(p for p in seen if p.startswith(prefix) and "/" not in p[len(prefix) :])


def first_existing(
    access: HostAccess, paths: Iterable[str], kind: str = ""
) -> FileStat | None | Result:
    """The first of `paths` that exists (as a `kind` when given: a unit masked by a link to
    /dev/null is no unit file); None when none does; unknown when that is unclear."""
    gap: Result | None = None
    for path in paths:
        found = stat_of(access, path)
        if isinstance(found, Result):
            gap = gap or found
        elif found.exists and found.kind == (kind or found.kind):
            return found
    return gap


def describe(st: FileStat) -> str:
    return f"owner={st.owner}:{st.group} mode={st.mode:04o}"


def stat_evidence(st: FileStat) -> Evidence:
    return Evidence(f"stat {st.path}", describe(st))


def verdict(outcome: Outcome, *evidence: Evidence, reason: str = "") -> Result:
    """A result with plain-text evidence: host facts read better unquoted than as JSON."""
    return Result(outcome, tuple(evidence), reason=reason)


def same_path(a: str, b: str) -> bool:
    """Paths equal up to the usual aliases (/var/run is /run; merged-/usr /lib is /usr/lib)."""
    return canonical(a) == canonical(b)


def canonical(path: str) -> str:
    path = posixpath.normpath(path)
    for alias, target in (("/var/run", "/run"), ("/lib", "/usr/lib"), ("/sbin", "/usr/sbin")):
        if path == alias or path.startswith(alias + "/"):
            return target + path[len(alias) :]
    if path == "/bin" or path.startswith("/bin/"):
        return "/usr" + path
    return path

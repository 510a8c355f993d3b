"""The daemon's effective configuration as SSH shows it: its command line and daemon.json.

dockerd reads each setting from a flag or from its configuration file (it refuses to
start when both set the same one), so a setting is looked up in both. The command line
is the running process's (/proc/<pid>/cmdline); where no dockerd process is visible (a
chroot, /proc mounted with hidepid) the docker.service unit's ExecStart stands in, which is
what the daemon is started with. A setting found in one known source is decided even when the
other source is unknown; "not set" is only concluded when both are known.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from rules.base import Cause, Result, unknown
from rules.facts import HostAccess, HostFacts
from rules.fields import once
from rules.host_access import (
    CONTAINERD_SOCK,
    DAEMON_JSON,
    DATA_ROOT,
    DEFAULT_DOCKER,
    DOCKERD_PREFIX,
    DROPIN_DIR,
    SYSCONFIG_DOCKER,
    access_of,
    first_existing,
    text_of,
    unit_paths,
)

# dockerd's boolean flags: `--icc false` is not valid pflag syntax, so a bare boolean
# never takes the next word as its value.
BOOL_FLAGS = {
    "debug",
    "tls",
    "tlsverify",
    "icc",
    "iptables",
    "ip6tables",
    "ip-forward",
    "ip-masq",
    "userland-proxy",
    "no-new-privileges",
    "live-restore",
    "experimental",
    "selinux-enabled",
    "raw-logs",
    "validate",
    "version",
    "help",
    "rootless",
}
SHORT_FLAGS = {
    "H": "host",
    "D": "debug",
    "l": "log-level",
    "G": "group",
    "g": "graph",
    "p": "pidfile",
    "b": "bridge",
}
# Settings whose flag name differs from their daemon.json key.
JSON_KEYS = {"host": "hosts", "default-ulimit": "default-ulimits", "graph": "graph"}
TLS_FILES = ("tlscacert", "tlscert", "tlskey")
USERNS_SUFFIX = re.compile(r"/\d+\.\d+$")  # data-root/<uid>.<gid> under userns-remap
MAX_FOLLOW_UPS = 64


def parse_flags(argv: list[str]) -> dict[str, list[str]]:
    """dockerd's argv (without argv[0]) as {long flag name: [values in order]}."""
    flags: dict[str, list[str]] = {}
    i = 0
    while i < len(argv):
        word = argv[i]
        i += 1
        if word.startswith("--") and len(word) > 2:
            name, eq, value = word[2:].partition("=")
        elif word.startswith("-") and len(word) > 1 and word[1] in SHORT_FLAGS:
            name, rest = SHORT_FLAGS[word[1]], word[2:]
            eq, value = ("=", rest.removeprefix("=")) if rest else ("", "")
        else:
            continue  # dockerd takes no positional arguments: ignore stray words
        if not eq:
            if name in BOOL_FLAGS:
                value = "true"
            elif i < len(argv) and not argv[i].startswith("-"):
                value = argv[i]
                i += 1
        flags.setdefault(name, []).append(value)
    return flags


@dataclass(frozen=True)
class Found:
    value: Any
    source: str  # the evidence field: "/proc/812/cmdline --icc" or "/etc/docker/daemon.json icc"


@dataclass
class DaemonConfig:
    flags: dict[str, list[str]] | None  # None: command line unknown
    flags_source: str
    file: dict[str, Any] | None  # None: configuration file unknown; {} when absent
    file_path: str
    gaps: list[Result] = field(default_factory=list)  # why a source is unknown

    def lookup(self, flag: str) -> Found | None | Result:
        """The setting from the command line, else daemon.json; None when set in neither."""
        if self.flags is not None and flag in self.flags:
            raw = self.flags[flag][-1]
            value: Any = raw.lower() in ("", "1", "t", "true") if flag in BOOL_FLAGS else raw
            return Found(value, f"{self.flags_source} --{flag}")
        key = JSON_KEYS.get(flag, flag)
        if self.file is not None and key in self.file:
            return Found(self.file[key], f"{self.file_path} {key}")
        if self.gaps:
            return self.gaps[0]
        return None

    def lookup_all(self, flag: str) -> list[Found] | Result:
        """Every value of a repeatable setting (hosts) from both sources."""
        found: list[Found] = []
        if self.flags is not None:
            found += [Found(v, f"{self.flags_source} --{flag}") for v in self.flags.get(flag, [])]
        key = JSON_KEYS.get(flag, flag)
        if self.file is not None and key in self.file:
            value = self.file[key]
            values = value if isinstance(value, list) else [value]
            found += [Found(v, f"{self.file_path} {key}") for v in values]
        if not found and self.gaps:
            return self.gaps[0]
        return found

    def enabled(self, flag: str) -> bool | Result:
        setting = self.lookup(flag)
        if isinstance(setting, Result):
            return setting
        return setting is not None and setting.value is True

    def data_root(self) -> str:
        for flag in ("data-root", "graph"):
            setting = self.lookup(flag)
            if isinstance(setting, Found) and isinstance(setting.value, str) and setting.value:
                return posixpath.normpath(setting.value)
        return DATA_ROOT


def processes(access: HostAccess) -> dict[int, list[str]]:
    """Running dockerd processes: {pid: argv}."""
    found = {}
    for key, value in access.commands.items():
        pid = key.removeprefix(DOCKERD_PREFIX)
        if key.startswith(DOCKERD_PREFIX) and pid.isdigit():
            found[int(pid)] = [part for part in value.split("\0") if part]
    return found


def parse_json(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def config_file(access: HostAccess, path: str) -> dict[str, Any] | Result:
    text = text_of(access, path)
    if isinstance(text, Result):
        return text
    if text is None:
        return {}  # dockerd runs on defaults without a configuration file
    parsed = parse_json(text)
    if parsed is None:
        return unknown(f"{path} is not a JSON object (or is larger than the 64 KB read)")
    return parsed


def from_argv(access: HostAccess, argv: list[str], source: str, gaps: list[Result]) -> DaemonConfig:
    flags = parse_flags(argv[1:])
    path = flags.get("config-file", [DAEMON_JSON])[-1] or DAEMON_JSON
    parsed = config_file(access, path)
    if isinstance(parsed, Result):
        return DaemonConfig(flags, source, None, path, [*gaps, parsed])
    return DaemonConfig(flags, source, parsed, path, gaps)


def environment(access: HostAccess) -> dict[str, str] | Result:
    """Variables of the unit's EnvironmentFile (Debian's DOCKER_OPTS, Red Hat's OPTIONS)."""
    variables: dict[str, str] = {}
    for path in (DEFAULT_DOCKER, SYSCONFIG_DOCKER):
        text = text_of(access, path)
        if isinstance(text, Result):
            return text
        for line in (text or "").splitlines():
            name, eq, value = line.strip().removeprefix("export ").partition("=")
            if eq and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                try:
                    words = shlex.split(value, comments=True)
                except ValueError:
                    continue
                variables[name] = " ".join(words)
    return variables


def exec_start(access: HostAccess) -> tuple[list[str], str] | Result:
    """The unit's effective ExecStart as argv, and where it came from."""
    unit = first_existing(access, unit_paths("docker.service"), kind="file")
    if isinstance(unit, Result):
        return unit
    if unit is None:
        return unknown("neither the process list nor a docker.service unit is readable")
    texts = [(unit.path, text_of(access, unit.path))]
    prefix = DROPIN_DIR + "/"
    texts += sorted((p, t) for p, t in access.texts.items() if p.startswith(prefix))
    line, source = "", ""
    for path, text in texts:
        if isinstance(text, Result):
            return text
        for raw in (text or "").splitlines():
            key, eq, value = raw.strip().partition("=")
            if eq and key.strip() == "ExecStart":
                # An empty ExecStart= in a drop-in resets the list before the new one.
                line, source = value.strip(), path
    if not line:
        return unknown(f"{unit.path} has no ExecStart line")
    env = environment(access) if "$" in line else {}
    if isinstance(env, Result):
        return env
    try:
        words = shlex.split(line)
    except ValueError:
        return unknown(f"the ExecStart line of {source} could not be parsed")
    argv: list[str] = []
    for word in words:
        name = word.strip("${}")
        if word.startswith("$") and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            argv += env.get(name, "").split()
        else:
            argv.append(word)
    if not argv:
        return unknown(f"the ExecStart line of {source} is empty")
    argv[0] = argv[0].lstrip("-@+!:")  # systemd's executable prefixes
    return argv, f"{source} ExecStart"


def expected_data_root(h: HostFacts) -> str:
    root = h.info.get("DockerRootDir") if isinstance(h.info, dict) else None
    if not isinstance(root, str) or not root.startswith("/"):
        return DATA_ROOT
    return USERNS_SUFFIX.sub("", posixpath.normpath(root))


def daemon_config(h: HostFacts) -> DaemonConfig | Result:
    """The scanned daemon's configuration (read-only: callers share it).

    With several dockerd processes on the host, the scanned one is the one whose data-root
    is the DockerRootDir that GET /info reported.
    """
    # Some 25 host rules ask for it, and it parses every dockerd's command line and
    # configuration file: once per evaluate() (issue 15, profiled in docs/BENCHMARKS.md).
    return once("daemon_config", h, lambda: _daemon_config(h))


def _daemon_config(h: HostFacts) -> DaemonConfig | Result:
    access = access_of(h)
    if isinstance(access, Result):
        return access
    running = processes(access)
    if running:
        configs = {
            pid: from_argv(access, argv, f"/proc/{pid}/cmdline", [])
            for pid, argv in running.items()
        }
        if len(configs) == 1:
            return next(iter(configs.values()))
        root = expected_data_root(h)
        matching = [c for c in configs.values() if c.data_root() == root]
        if len(matching) == 1:
            return matching[0]
        return unknown(
            f"{len(configs)} dockerd processes run on the host and {len(matching)} of them "
            f"use the scanned daemon's data-root {root}"
        )
    # No dockerd visible (no /proc, or hidepid hiding root's processes): the unit's
    # ExecStart is what the daemon is started with.
    started = exec_start(access)
    if isinstance(started, Result):
        return _file_only(access, started)
    return from_argv(access, started[0], started[1], [])


def containerd_address(h: HostFacts) -> str:
    """The containerd socket the daemon uses: --containerd, else the system default."""
    config = daemon_config(h)
    setting = None if isinstance(config, Result) else config.lookup("containerd")
    if isinstance(setting, Found) and (path := _clean(setting.value)):
        return path
    return CONTAINERD_SOCK


def _file_only(access: HostAccess, gap: Result) -> DaemonConfig:
    reason = unknown(
        f"the daemon's command line is unknown ({gap.reason})", gap.cause or Cause.DATA_MISSING
    )
    parsed = config_file(access, DAEMON_JSON)
    if isinstance(parsed, Result):
        return DaemonConfig(None, "", None, DAEMON_JSON, [reason, parsed])
    return DaemonConfig(None, "", parsed, DAEMON_JSON, [reason])


def _clean(path: Any) -> str | None:
    if not isinstance(path, str) or not path.startswith("/") or "\0" in path:
        return None
    return posixpath.normpath(path)[:4096]


def unix_sockets(values: list[Any]) -> list[str]:
    return [p for v in values if isinstance(v, str) and (p := _clean(v.removeprefix("unix://")))]


def referenced_paths(access: HostAccess, data_root: str | None = None) -> tuple[set[str], set[str]]:
    """Paths the configurations name that the first pass could not know: (stat, read).

    Configuration files given with --config-file, data-roots, unix sockets and TLS
    material of every dockerd on the host. The collector cannot tell which one the API
    scan reached, but the API can: when `data_root` (/info's DockerRootDir) names one of
    them, only that daemon's paths (and its unit's) are followed up, so that a host
    running many daemons neither pays for all of them nor has the cap on follow-ups drop
    the paths of the one being judged.
    """
    configs: list[DaemonConfig] = [
        from_argv(access, argv, "", []) for argv in processes(access).values()
    ]
    started = exec_start(access)
    unit = [] if isinstance(started, Result) else [from_argv(access, started[0], "", [])]
    scanned = [c for c in configs if data_root and c.data_root() == data_root]
    # Only the scanned daemon's paths (each costs the host a few processes) when it can be
    # told apart; its systemd unit's command line is followed either way.
    configs = (scanned or configs) + unit
    stats: dict[str, None] = {}  # ordered: the scanned daemon's paths first
    reads: set[str] = set()
    for config in configs:
        wanted: set[str] = {config.file_path, config.data_root()}
        reads.add(config.file_path)
        containerd = config.lookup("containerd")
        if isinstance(containerd, Found) and (path := _clean(containerd.value)):
            wanted.add(path)
        hosts = config.lookup_all("host")
        if not isinstance(hosts, Result):
            wanted.update(unix_sockets([f.value for f in hosts if str(f.value).startswith("unix")]))
        tls_on = config.enabled("tls") is True or config.enabled("tlsverify") is True
        for name in TLS_FILES:
            setting = config.lookup(name)
            if isinstance(setting, Found) and (path := _clean(setting.value)):
                wanted.add(path)
            elif tls_on:
                wanted.add(default_tls_file(name))
        stats.update(dict.fromkeys(sorted(p for p in wanted if _clean(p))))
    return set(list(stats)[:MAX_FOLLOW_UPS]), {p for p in reads if _clean(p)}


def default_tls_file(name: str) -> str:
    # dockerd falls back to ~/.docker/{ca,cert,key}.pem of the user it runs as.
    return {"tlscacert": "/root/.docker/ca.pem", "tlscert": "/root/.docker/cert.pem"}.get(
        name, "/root/.docker/key.pem"
    )

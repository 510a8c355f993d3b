"""CIS 1.1.3-1.1.18: the Linux audit system watches the daemon, its runtime and its files.

The loaded rules (`auditctl -l`) decide when the SSH user may run auditctl; otherwise the
rules files under /etc/audit stand in, which is what the host loads at boot. A watch on a
directory (-w /etc/docker, -F dir=) covers the files below it. A target that does not exist
on the host is not applicable, as CIS prescribes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rules.base import (
    Evidence,
    Outcome,
    Remediation,
    Result,
    Scope,
    Severity,
    Source,
    not_applicable,
    rule,
)
from rules.facts import HostAccess, HostFacts
from rules.fields import once
from rules.host_access import (
    AUDIT_RULES,
    AUDIT_RULES_DIR,
    AUDITCTL,
    AUDITCTL_MISSING,
    CONTAINERD_CONFIG,
    CONTAINERD_SOCK,
    DAEMON_JSON,
    DEFAULT_DOCKER,
    DOCKERD_BINARIES,
    ETC_DOCKER,
    RUN_CONTAINERD,
    SYSCONFIG_DOCKER,
    access_of,
    canonical,
    denied,
    first_existing,
    listed,
    not_collected,
    same_path,
    stat_of,
    text_of,
    unit_paths,
    verdict,
)
from rules.host_dockerd import containerd_address, daemon_config, expected_data_root, processes

Paths = Callable[[HostFacts, HostAccess], list[str]]


@dataclass(frozen=True)
class Watch:
    path: str
    recursive: bool
    line: str

    def covers(self, target: str) -> bool:
        if same_path(self.path, target):
            return True
        return self.recursive and canonical(target).startswith(canonical(self.path) + "/")


@dataclass(frozen=True)
class AuditRules:
    source: str
    watches: tuple[Watch, ...]

    def covering(self, target: str) -> Watch | None:
        return next((w for w in self.watches if w.covers(target)), None)


def parse_audit_rules(text: str) -> list[Watch]:
    """File watches in auditctl syntax: -w PATH, or -a always,exit ... -F path=/dir=."""
    watches = []
    for raw in text.splitlines():
        line = raw.strip()
        words = line.split()
        if not words or line.startswith("#"):
            continue
        if "-w" in words[:-1]:
            watches.append(Watch(words[words.index("-w") + 1], True, line))
            continue
        if "-a" not in words[:-1] or "never" in words[words.index("-a") + 1]:
            continue
        for i, word in enumerate(words[:-1]):
            key, _, value = words[i + 1].partition("=")
            if word == "-F" and key in ("path", "dir") and value.startswith("/"):
                watches.append(Watch(value, key == "dir", line))
    return watches


def audit_rules(access: HostAccess) -> AuditRules | Result:
    # Parsed once per evaluate(), not once for each of the audit rules.
    return once("audit_rules", access, lambda: _audit_rules(access))


def _audit_rules(access: HostAccess) -> AuditRules | Result:
    if AUDITCTL in access.commands:
        return AuditRules(AUDITCTL, tuple(parse_audit_rules(access.commands[AUDITCTL])))
    if AUDITCTL in access.denied:
        return denied(AUDITCTL, access)
    entries = listed(access, AUDIT_RULES_DIR)
    if isinstance(entries, Result):
        return entries
    files = [p for p in entries if p.endswith(".rules")]
    main = stat_of(access, AUDIT_RULES)
    if isinstance(main, Result):
        return main
    if main.exists:
        files.append(AUDIT_RULES)
    watches: list[Watch] = []
    for path in files:
        text = text_of(access, path)
        if isinstance(text, Result):
            return text
        watches += parse_audit_rules(text or "")
    if AUDITCTL_MISSING not in access.commands:
        return not_collected(access, AUDITCTL)
    state = access.commands[AUDITCTL_MISSING]
    how = "auditctl not installed" if state == "not installed" else "auditctl -l failed"
    return AuditRules(f"/etc/audit rules files ({how})", tuple(watches))


def dockerd_binary(h: HostFacts, access: HostAccess) -> list[str]:
    config = daemon_config(h)
    running = processes(access)
    if not isinstance(config, Result) and config.flags_source.startswith("/proc/"):
        argv = running.get(int(config.flags_source.split("/")[2]), [])
        if argv and argv[0].startswith("/"):
            return [argv[0]]
    return list(DOCKERD_BINARIES)


def daemon_json(h: HostFacts, access: HostAccess) -> list[str]:
    config = daemon_config(h)
    return [DAEMON_JSON if isinstance(config, Result) else config.file_path]


def fixed(*paths: str) -> Paths:
    return lambda h, access: list(paths)


@dataclass(frozen=True)
class Target:
    id: str
    cis: str
    v18: str  # "" when v1.8.0 audits something else under that number
    level: int
    label: str
    paths: Paths
    example: str  # the path in the remediation's example rule
    label_fr: str = ""  # when the label is words rather than a path


# Levels are v1.8.0's profile applicability: verified for 1.1.4, 1.1.5 (level 1) and 1.1.9,
# 1.1.10, 1.1.11, 1.1.17 (level 2); the others follow the same split (the daemon and its
# state level 1, configuration files and runtime binaries level 2).
TARGETS = (
    Target("DMN-AUDIT-DOCKERD", "1.1.3", "1.1.3", 1, "the Docker daemon", dockerd_binary,
           "/usr/bin/dockerd", "le démon Docker"),
    Target("DMN-AUDIT-RUN-CONTAINERD", "1.1.4", "1.1.4", 1, RUN_CONTAINERD,
           fixed(RUN_CONTAINERD), RUN_CONTAINERD),
    Target("DMN-AUDIT-DATA-ROOT", "1.1.5", "1.1.5", 1, "the data-root (/var/lib/docker)",
           lambda h, access: [expected_data_root(h)], "/var/lib/docker",
           "la racine de données (/var/lib/docker)"),
    Target("DMN-AUDIT-ETC-DOCKER", "1.1.6", "1.1.6", 1, ETC_DOCKER, fixed(ETC_DOCKER),
           ETC_DOCKER),
    Target("DMN-AUDIT-DOCKER-SERVICE", "1.1.7", "1.1.7", 1, "docker.service",
           fixed(*unit_paths("docker.service")), "/usr/lib/systemd/system/docker.service"),
    Target("DMN-AUDIT-CONTAINERD-SOCK", "1.1.8", "1.1.8", 1, "containerd.sock",
           lambda h, access: [containerd_address(h)], CONTAINERD_SOCK),
    # v1.8.0 renamed 1.1.9 to the docker.sock socket itself; this rule keeps v1.6.0's unit.
    Target("DMN-AUDIT-DOCKER-SOCKET", "1.1.9", "", 2, "docker.socket",
           fixed(*unit_paths("docker.socket")), "/usr/lib/systemd/system/docker.socket"),
    Target("DMN-AUDIT-DEFAULT-DOCKER", "1.1.10", "1.1.10", 2, DEFAULT_DOCKER,
           fixed(DEFAULT_DOCKER), DEFAULT_DOCKER),
    Target("DMN-AUDIT-DAEMON-JSON", "1.1.11", "1.1.11", 2, DAEMON_JSON, daemon_json,
           DAEMON_JSON),
    Target("DMN-AUDIT-CONTAINERD-CONFIG", "1.1.12", "1.1.12", 2, CONTAINERD_CONFIG,
           fixed(CONTAINERD_CONFIG), CONTAINERD_CONFIG),
    Target("DMN-AUDIT-SYSCONFIG-DOCKER", "1.1.13", "1.1.13", 2, SYSCONFIG_DOCKER,
           fixed(SYSCONFIG_DOCKER), SYSCONFIG_DOCKER),
    Target("DMN-AUDIT-CONTAINERD", "1.1.14", "1.1.14", 2, "/usr/bin/containerd",
           fixed("/usr/bin/containerd"), "/usr/bin/containerd"),
    Target("DMN-AUDIT-CONTAINERD-SHIM", "1.1.15", "1.1.15", 2, "/usr/bin/containerd-shim",
           fixed("/usr/bin/containerd-shim"), "/usr/bin/containerd-shim"),
    Target("DMN-AUDIT-SHIM-RUNC-V1", "1.1.16", "1.1.16", 2, "/usr/bin/containerd-shim-runc-v1",
           fixed("/usr/bin/containerd-shim-runc-v1"), "/usr/bin/containerd-shim-runc-v1"),
    Target("DMN-AUDIT-SHIM-RUNC-V2", "1.1.17", "1.1.17", 2, "/usr/bin/containerd-shim-runc-v2",
           fixed("/usr/bin/containerd-shim-runc-v2"), "/usr/bin/containerd-shim-runc-v2"),
    Target("DMN-AUDIT-RUNC", "1.1.18", "1.1.18", 2, "/usr/bin/runc", fixed("/usr/bin/runc"),
           "/usr/bin/runc"),
)  # fmt: skip


def audit_check(target: Target) -> Callable[[HostFacts], Result]:
    def check(h: HostFacts) -> Result:
        access = access_of(h)
        if isinstance(access, Result):
            return access
        candidates = target.paths(h, access)
        present = first_existing(access, candidates)
        if present is None:
            return not_applicable(f"{target.label} does not exist on this host")
        rules = audit_rules(access)
        if isinstance(rules, Result):
            return rules
        # A stat that was refused leaves existence open, but a watch on the path settles it.
        paths = candidates if isinstance(present, Result) else [present.path]
        for path in paths:
            watch = rules.covering(path)
            if watch is not None:
                return verdict(Outcome.PASS, Evidence(f"{rules.source}: {path}", watch.line))
        if isinstance(present, Result):
            return present
        return verdict(Outcome.FAIL, Evidence(rules.source, f"no rule watches {present.path}"))

    check.__name__ = "audit_" + target.id.lower().replace("-", "_")
    return check


def register(target: Target) -> None:
    rule(
        id=target.id,
        title=f"No audit rule for {target.label}",
        title_fr=f"Aucune règle d'audit pour {target.label_fr or target.label}",
        severity=Severity.LOW,
        scope=Scope.DAEMON,
        rationale=(
            f"Changes to {target.label} alter what runs as root on the host; without an audit "
            "rule nobody can tell afterwards who changed it, or when."
        ),
        rationale_fr=(
            f"Modifier {target.example} change ce qui s'exécute en root sur l'hôte ; sans "
            "règle d'audit, personne ne peut dire ensuite qui l'a modifié, ni quand."
        ),
        remediation=Remediation(
            en=(
                f"Install auditd, add `-w {target.example} -k docker` (with the path this host "
                "uses) to /etc/audit/rules.d/docker.rules and load it: augenrules --load."
            ),
            fr=(
                f"Installez auditd, ajoutez `-w {target.example} -k docker` (avec le chemin de "
                "cet hôte) à /etc/audit/rules.d/docker.rules et chargez-le : augenrules --load."
            ),
        ),
        cis=(target.cis,),
        cis_v18=(target.v18,) if target.v18 else (),
        cis_level=target.level,
        source=Source.SSH,
        decided_by=f"auditctl -l (else /etc/audit rules files) and stat of {target.label} over SSH",
    )(audit_check(target))


for _target in TARGETS:
    register(_target)

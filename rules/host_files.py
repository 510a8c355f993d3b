"""CIS section 3: ownership and permissions of the daemon's files, read with stat over SSH.

Each CIS item is one rule, ownership and mode apart, as the benchmark counts them. A rule
fails on the first file it can prove wrong, even when other files of the same rule could
not be read; it passes only when every file it covers was seen. A file that does not
exist (/etc/sysconfig/docker on Debian) is not applicable, the CIS convention.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rules.base import Outcome, Remediation, Result, Scope, Severity, Source, not_applicable, rule
from rules.facts import FileStat, HostAccess, HostFacts
from rules.host_access import (
    CERTS_D,
    CONTAINERD_SOCK,
    DAEMON_JSON,
    DEFAULT_DOCKER,
    DOCKER_SOCKS,
    ETC_DOCKER,
    SYSCONFIG_DOCKER,
    access_of,
    first_existing,
    listed,
    listing_denied,
    stat_evidence,
    stat_of,
    unit_paths,
    verdict,
)
from rules.host_dockerd import (
    Found,
    containerd_address,
    daemon_config,
    default_tls_file,
    unix_sockets,
)

# What a rule covers: the paths to stat, or why they cannot be known.
Subjects = Callable[[HostFacts, HostAccess], list[str] | Result]


def fixed(path: str) -> Subjects:
    return lambda h, access: [path]


def unit(name: str) -> Subjects:
    """The unit file systemd uses: the first of /etc, /usr/lib and /lib that exists."""

    def find(h: HostFacts, access: HostAccess) -> list[str] | Result:
        found = first_existing(access, unit_paths(name), kind="file")
        if isinstance(found, Result):
            return found
        return [found.path] if found is not None else []

    return find


def registry_certificates(h: HostFacts, access: HostAccess) -> list[str] | Result:
    registries = listed(access, CERTS_D)
    if isinstance(registries, Result):
        return registries
    files: list[str] = []
    for directory in registries:
        found = access.files.get(directory)
        if found is not None and found.kind != "directory":
            files.append(directory)  # a certificate directly in certs.d
            continue
        entries = listed(access, directory)
        # An unlistable registry directory stays a gap (its marker is in denied, or was
        # never collected) so that a wrong file in another registry still fails the rule.
        files += [listing_denied(directory)] if isinstance(entries, Result) else entries
    return files


def tls_file(flag: str) -> Subjects:
    def find(h: HostFacts, access: HostAccess) -> list[str] | Result:
        config = daemon_config(h)
        if isinstance(config, Result):
            return config
        setting = config.lookup(flag)
        if isinstance(setting, Result):
            return setting
        if isinstance(setting, Found) and isinstance(setting.value, str) and setting.value:
            return [setting.value]
        if config.enabled("tlsverify") is True or config.enabled("tls") is True:
            return [default_tls_file(flag)]
        return []  # no TLS material configured: not applicable

    return find


def docker_sockets(h: HostFacts, access: HostAccess) -> list[str] | Result:
    config = daemon_config(h)
    if isinstance(config, Result):
        return list(DOCKER_SOCKS[:1])
    hosts = config.lookup_all("host")
    values = [] if isinstance(hosts, Result) else [f.value for f in hosts]
    sockets = unix_sockets([v for v in values if str(v).startswith("unix")])
    # No -H, or fd:// (socket activation): the packaged default socket.
    if not values or any(str(v).startswith("fd://") for v in values):
        sockets.append(DOCKER_SOCKS[0])
    return sockets


def containerd_socket(h: HostFacts, access: HostAccess) -> list[str]:
    return [containerd_address(h)]


def config_file(h: HostFacts, access: HostAccess) -> list[str] | Result:
    config = daemon_config(h)
    return [DAEMON_JSON if isinstance(config, Result) else config.file_path]


@dataclass(frozen=True)
class FileRule:
    id: str
    cis: str
    subject: str  # "the docker.service file"
    subject_fr: str
    subjects: Subjects
    severity: Severity
    max_mode: int | None = None  # a mode rule when set, else an ownership rule
    groups: tuple[str, ...] = ("root",)
    example: str = ""  # the path in the remediation command


def check_files(spec: FileRule, h: HostFacts) -> Result:
    access = access_of(h)
    if isinstance(access, Result):
        return access
    paths = spec.subjects(h, access)
    if isinstance(paths, Result):
        return paths
    wrong: list[FileStat] = []
    right: list[FileStat] = []
    gap: Result | None = None
    for path in paths:
        found = stat_of(access, path)
        if isinstance(found, Result):
            gap = gap or found
        elif found.exists:
            (right if acceptable(spec, found) else wrong).append(found)
    if wrong:
        return verdict(Outcome.FAIL, *(stat_evidence(f) for f in wrong))
    if gap is not None:
        return gap
    if not right:
        return not_applicable(f"{spec.subject}: not present on this host")
    return verdict(Outcome.PASS, *(stat_evidence(f) for f in right))


def acceptable(spec: FileRule, found: FileStat) -> bool:
    if spec.max_mode is not None:
        return found.mode & ~spec.max_mode == 0  # setuid, setgid and sticky bits count too
    return found.owner == "root" and found.group in spec.groups


def of_fr(subject: str) -> str:
    """French "de" before a subject, with the article it contracts with: "du fichier",
    "des certificats", but "de la clé", "de l'AC", "de /etc/docker"."""
    if subject.startswith("le "):
        return "du " + subject[3:]
    if subject.startswith("les "):
        return "des " + subject[4:]
    return "de " + subject


def register(spec: FileRule) -> None:
    is_mode = spec.max_mode is not None
    path = spec.example
    if is_mode:
        title = f"Permissions of {spec.subject} looser than {spec.max_mode:o}"
        title_fr = f"Droits {of_fr(spec.subject_fr)} plus larges que {spec.max_mode:o}"
        fix_en = f"chmod {spec.max_mode:o} {path}"
        why = (
            f"Whoever can write {spec.subject} changes how the daemon runs, or what it trusts,"
            " which is root on the host; key material must not be readable by others either."
        )
        why_fr = (
            f"Qui peut écrire {spec.subject_fr} change le fonctionnement du démon ou ce à quoi"
            " il se fie, donc a root sur l'hôte ; une clé ne doit pas non plus être lisible."
        )
    else:
        want = f"root:{spec.groups[-1]}" if len(spec.groups) > 1 else "root:root"
        title = f"Owner of {spec.subject} is not {want}"
        title_fr = f"Le propriétaire {of_fr(spec.subject_fr)} n'est pas {want}"
        fix_en = f"chown {want} {path}"
        why = (
            f"The owner of {spec.subject} may change its permissions and contents at will; "
            "anyone but root owning it can take over the daemon."
        )
        why_fr = (
            f"Le propriétaire {of_fr(spec.subject_fr)} peut en changer les droits et le contenu à "
            "volonté ; tout autre que root peut ainsi prendre la main sur le démon."
        )
    rule(
        id=spec.id,
        title=title,
        title_fr=title_fr,
        severity=spec.severity,
        scope=Scope.DAEMON,
        rationale=why,
        rationale_fr=why_fr,
        remediation=Remediation(
            en=f"Run `{fix_en}` (with the path this host uses).",
            fr=f"Exécutez `{fix_en}` (avec le chemin utilisé sur cet hôte).",
        ),
        cis=(spec.cis,),
        # Section 3 kept its numbering in v1.8.0 (checked for 3.2, 3.6, 3.21, 3.23, 3.24).
        cis_v18=(spec.cis,),
        cis_level=1,
        source=Source.SSH,
        decided_by=f"stat of {spec.subject} over SSH",
    )(lambda h: check_files(spec, h))


H, M = Severity.HIGH, Severity.MEDIUM
SERVICE = "/usr/lib/systemd/system/docker.service"
SOCKET_UNIT = "/usr/lib/systemd/system/docker.socket"
CA, CERT, KEY = "/etc/docker/tls/ca.pem", "/etc/docker/tls/server.pem", "/etc/docker/tls/key.pem"
FILE_RULES = (
    FileRule("DMN-FILE-SERVICE-OWNER", "3.1", "the docker.service file",
             "le fichier docker.service", unit("docker.service"), M, example=SERVICE),
    FileRule("DMN-FILE-SERVICE-MODE", "3.2", "the docker.service file",
             "le fichier docker.service", unit("docker.service"), H, 0o644, example=SERVICE),
    FileRule("DMN-FILE-SOCKET-UNIT-OWNER", "3.3", "the docker.socket file",
             "le fichier docker.socket", unit("docker.socket"), M, example=SOCKET_UNIT),
    FileRule("DMN-FILE-SOCKET-UNIT-MODE", "3.4", "the docker.socket file",
             "le fichier docker.socket", unit("docker.socket"), H, 0o644, example=SOCKET_UNIT),
    FileRule("DMN-FILE-ETC-DOCKER-OWNER", "3.5", "/etc/docker", "/etc/docker",
             fixed(ETC_DOCKER), M, example=ETC_DOCKER),
    FileRule("DMN-FILE-ETC-DOCKER-MODE", "3.6", "/etc/docker", "/etc/docker",
             fixed(ETC_DOCKER), H, 0o755, example=ETC_DOCKER),
    FileRule("DMN-FILE-REGISTRY-CERTS-OWNER", "3.7", "the registry certificates",
             "les certificats de registre", registry_certificates, M,
             example="/etc/docker/certs.d/<registry>/*"),
    FileRule("DMN-FILE-REGISTRY-CERTS-MODE", "3.8", "the registry certificates",
             "les certificats de registre", registry_certificates, M, 0o444,
             example="/etc/docker/certs.d/<registry>/*"),
    FileRule("DMN-FILE-TLS-CA-OWNER", "3.9", "the TLS CA certificate",
             "le certificat de l'AC TLS", tls_file("tlscacert"), M, example=CA),
    FileRule("DMN-FILE-TLS-CA-MODE", "3.10", "the TLS CA certificate",
             "le certificat de l'AC TLS", tls_file("tlscacert"), M, 0o444, example=CA),
    FileRule("DMN-FILE-TLS-CERT-OWNER", "3.11", "the Docker server certificate",
             "le certificat TLS du démon", tls_file("tlscert"), M, example=CERT),
    FileRule("DMN-FILE-TLS-CERT-MODE", "3.12", "the Docker server certificate",
             "le certificat TLS du démon", tls_file("tlscert"), M, 0o444, example=CERT),
    FileRule("DMN-FILE-TLS-KEY-OWNER", "3.13", "the Docker server key",
             "la clé TLS du démon", tls_file("tlskey"), H, example=KEY),
    FileRule("DMN-FILE-TLS-KEY-MODE", "3.14", "the Docker server key",
             "la clé TLS du démon", tls_file("tlskey"), H, 0o400, example=KEY),
    FileRule("DMN-FILE-DOCKER-SOCK-OWNER", "3.15", "the Docker socket", "le socket Docker",
             docker_sockets, H, groups=("root", "docker"), example="/var/run/docker.sock"),
    FileRule("DMN-FILE-DOCKER-SOCK-MODE", "3.16", "the Docker socket", "le socket Docker",
             docker_sockets, H, 0o660, example="/var/run/docker.sock"),
    FileRule("DMN-FILE-DAEMON-JSON-OWNER", "3.17", "daemon.json", "daemon.json",
             config_file, M, example=DAEMON_JSON),
    FileRule("DMN-FILE-DAEMON-JSON-MODE", "3.18", "daemon.json", "daemon.json",
             config_file, H, 0o644, example=DAEMON_JSON),
    FileRule("DMN-FILE-DEFAULT-DOCKER-OWNER", "3.19", DEFAULT_DOCKER, DEFAULT_DOCKER,
             fixed(DEFAULT_DOCKER), M, example=DEFAULT_DOCKER),
    FileRule("DMN-FILE-DEFAULT-DOCKER-MODE", "3.20", DEFAULT_DOCKER, DEFAULT_DOCKER,
             fixed(DEFAULT_DOCKER), H, 0o644, example=DEFAULT_DOCKER),
    # v1.6.0 lists the mode of /etc/sysconfig/docker (3.21) before its owner (3.22).
    FileRule("DMN-FILE-SYSCONFIG-DOCKER-MODE", "3.21", SYSCONFIG_DOCKER, SYSCONFIG_DOCKER,
             fixed(SYSCONFIG_DOCKER), H, 0o644, example=SYSCONFIG_DOCKER),
    FileRule("DMN-FILE-SYSCONFIG-DOCKER-OWNER", "3.22", SYSCONFIG_DOCKER, SYSCONFIG_DOCKER,
             fixed(SYSCONFIG_DOCKER), M, example=SYSCONFIG_DOCKER),
    FileRule("DMN-FILE-CONTAINERD-SOCK-OWNER", "3.23", "the containerd socket",
             "le socket containerd", containerd_socket, H, example=CONTAINERD_SOCK),
    FileRule("DMN-FILE-CONTAINERD-SOCK-MODE", "3.24", "the containerd socket",
             "le socket containerd", containerd_socket, H, 0o660, example=CONTAINERD_SOCK),
)  # fmt: skip

for _spec in FILE_RULES:
    register(_spec)

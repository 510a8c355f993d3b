"""Container rules on what the container can reach on the host's filesystem: the daemon
socket, sensitive host paths, writable binds, devices and its own root filesystem
(OWASP cheat sheet rules 1 and 8).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any

from rules.base import Remediation, Result, Scope, Severity, dig, failed, passed, rule
from rules.facts import ContainerFacts
from rules.fields import flag, records, strings

# Sockets that hand out control of a container engine, whatever the engine.
ENGINE_SOCKETS = frozenset(
    {
        "docker.sock",
        "containerd.sock",
        "podman.sock",
        "crio.sock",
        "cri-dockerd.sock",
        "dockershim.sock",
        "buildkitd.sock",
    }
)
# Directories that hold one of those sockets: mounting the directory exposes the socket.
SOCKET_DIRS = frozenset(
    {
        "/",
        "/run",
        "/var/run",
        "/run/docker",
        "/var/run/docker",
        "/run/containerd",
        "/var/run/containerd",
        "/run/podman",
        "/var/run/podman",
        "/run/crio",
        "/var/run/crio",
        "/run/buildkit",
    }
)
ROOTLESS_RUNTIME_DIR = re.compile(r"^/run/user/\d+$")  # rootless dockerd's $XDG_RUNTIME_DIR

# CIS 5.6's list plus the places that hold host credentials or other containers' data.
# "/" matches only itself; the others match themselves and everything below.
SENSITIVE_PATHS = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/lib32",
    "/lib64",
    "/proc",
    "/root",
    "/sbin",
    "/sys",
    "/usr",
    "/var/lib/containerd",
    "/var/lib/docker",
)
# Read-only mounts of these are routine (time zone, CA bundle) and expose nothing secret.
HARMLESS_READ_ONLY = (
    "/etc/ca-certificates",
    "/etc/localtime",
    "/etc/pki/ca-trust",
    "/etc/ssl/certs",
    "/etc/timezone",
    "/usr/share/zoneinfo",
)


@dataclass(frozen=True)
class HostMount:
    field: str  # where it was read: "HostConfig.Binds" or "Mounts"
    entry: Any  # the inspect entry, for evidence
    source: str  # normalised host path
    writable: bool


def normalise(path: str) -> str:
    # posixpath keeps a leading "//", which would dodge the comparisons below.
    return posixpath.normpath("/" + path.lstrip("/"))


def is_under(path: str, root: str) -> bool:
    return path == root or (root != "/" and path.startswith(root + "/"))


def from_binds(binds: list[str]) -> list[HostMount]:
    found = []
    for bind in binds:
        source, _, rest = bind.partition(":")
        if not source.startswith("/") or not rest:
            continue  # a named volume ("data:/var/lib/x"), not a host path
        options = rest.partition(":")[2].split(",")
        found.append(HostMount("HostConfig.Binds", bind, normalise(source), "ro" not in options))
    return found


def from_mounts(mounts: list[dict[str, Any]]) -> list[HostMount]:
    found = []
    for mount in mounts:
        source = mount.get("Source")
        # Volume mounts also carry a Source (under /var/lib/docker/volumes): only binds count.
        if mount.get("Type") != "bind" or not isinstance(source, str) or not source:
            continue
        entry = {k: mount.get(k) for k in ("Type", "Source", "Destination", "RW")}
        # RW is always sent by the daemon; without it, writes cannot be ruled out.
        found.append(HostMount("Mounts", entry, normalise(source), mount.get("RW") is not False))
    return found


def host_mounts(c: ContainerFacts) -> tuple[list[HostMount], Result | None]:
    """Host paths bound into the container, and an UNKNOWN result when the list may be
    incomplete: Mounts lists every mount, Binds only those given with -v."""
    binds = strings(c.inspect, "HostConfig.Binds")
    mounts = records(c.inspect, "Mounts")
    found = from_binds(binds) if isinstance(binds, list) else []
    if isinstance(mounts, Result):
        return found, mounts
    return found + from_mounts(mounts), None


def verdict(matches: list[HostMount], gap: Result | None) -> Result:
    if matches:
        by_field: dict[str, list[Any]] = {}
        for m in matches:
            by_field.setdefault(m.field, []).append(m.entry)
        first, *rest = by_field.items()
        return failed(first[0], first[1], *rest)
    return gap if gap is not None else passed()


def exposes_socket(path: str) -> bool:
    return (
        posixpath.basename(path) in ENGINE_SOCKETS
        or path in SOCKET_DIRS
        or bool(ROOTLESS_RUNTIME_DIR.match(path))
    )


@rule(
    id="CTR-DOCKER-SOCKET",
    title="Container engine socket mounted into the container",
    title_fr="Socket du moteur de conteneurs monté dans le conteneur",
    severity=Severity.CRITICAL,
    scope=Scope.CONTAINER,
    rationale=(
        "Whoever can talk to docker.sock (or containerd's, Podman's...) can start a "
        "privileged container and own the host. Mounting it read-only does not help: "
        "read-only applies to the file, not to the API requests sent through it."
    ),
    rationale_fr=(
        "Quiconque peut parler à docker.sock (ou au socket de containerd, de Podman...) "
        "peut lancer un conteneur privilégié et prendre l'hôte. Le monter en lecture "
        "seule n'y change rien : cela protège le fichier, pas les requêtes envoyées à "
        "l'API."
    ),
    remediation=Remediation(
        en=(
            "Remove the socket mount (or the /run directory that holds it). If a tool truly "
            "needs the API, put a filtering proxy in front that allows only the calls it "
            "uses, or run it on a separate host."
        ),
        fr=(
            "Supprimez le montage du socket (ou du répertoire /run qui le contient). Si un "
            "outil a réellement besoin de l'API, placez devant un proxy filtrant qui "
            "n'autorise que ses appels, ou exécutez-le sur un hôte séparé."
        ),
    ),
    owasp=(1,),
    cis=("5.32",),
    cis_v18=("5.32",),
    cis_level=1,
    decided_by="HostConfig.Binds and Mounts[] (Type bind, Source) from GET /containers/{id}/json",
)
def docker_socket(c: ContainerFacts) -> Result:
    found, gap = host_mounts(c)
    return verdict([m for m in found if exposes_socket(m.source)], gap)


def sensitive_roots(c: ContainerFacts) -> list[str]:
    roots = list(SENSITIVE_PATHS)
    root_dir = c.host.info.get("DockerRootDir") if c.host else None
    if isinstance(root_dir, str) and root_dir.startswith("/"):
        roots.append(normalise(root_dir))  # a relocated /var/lib/docker
    return roots


def is_sensitive(path: str, roots: list[str]) -> bool:
    return path == "/" or any(is_under(path, root) for root in roots)


@rule(
    id="CTR-HOST-PATH",
    title="Sensitive host path mounted",
    title_fr="Chemin sensible de l'hôte monté",
    severity=Severity.HIGH,
    scope=Scope.CONTAINER,
    rationale=(
        "Host system directories (/, /etc, /proc, /sys, /dev, /root, /var/lib/docker...) "
        "expose credentials, other containers' data and kernel interfaces, even read-only."
    ),
    rationale_fr=(
        "Les répertoires système de l'hôte (/, /etc, /proc, /sys, /dev, /root, "
        "/var/lib/docker...) exposent des secrets, les données des autres conteneurs et "
        "des interfaces du noyau, même en lecture seule."
    ),
    remediation=Remediation(
        en=(
            "Mount only the specific file or directory the application needs, from a "
            "dedicated location, read-only where possible; prefer named volumes."
        ),
        fr=(
            "Ne montez que le fichier ou le répertoire précis dont l'application a besoin, "
            "depuis un emplacement dédié, en lecture seule si possible ; préférez les "
            "volumes nommés."
        ),
        docker_run="--mount type=volume,source=app-data,target=/data",
        compose="volumes: [app-data:/data]",
    ),
    owasp=(8,),
    cis=("5.6",),
    cis_v18=("5.6",),
    cis_level=1,
    decided_by=(
        "HostConfig.Binds and Mounts[] from GET /containers/{id}/json; DockerRootDir from GET /info"
    ),
)
def sensitive_host_path(c: ContainerFacts) -> Result:
    found, gap = host_mounts(c)
    roots = sensitive_roots(c)
    matches = [
        m
        for m in found
        if is_sensitive(m.source, roots)
        and (m.writable or not any(is_under(m.source, h) for h in HARMLESS_READ_ONLY))
    ]
    return verdict(matches, gap)


@rule(
    id="CTR-HOST-PATH-RW",
    title="Sensitive host path mounted read-write",
    title_fr="Chemin sensible de l'hôte monté en lecture-écriture",
    severity=Severity.CRITICAL,
    scope=Scope.CONTAINER,
    rationale=(
        "Write access to a host system directory (/etc, /usr, /root, /var/lib/docker...) "
        "lets the container plant cron jobs, SSH keys or binaries: root on the host."
    ),
    rationale_fr=(
        "L'écriture dans un répertoire système de l'hôte (/etc, /usr, /root, "
        "/var/lib/docker...) permet au conteneur d'y déposer tâches cron, clés SSH ou "
        "binaires : c'est root sur l'hôte."
    ),
    remediation=Remediation(
        en=(
            "Remove the mount, or at least make it read-only (:ro, or readonly with "
            "--mount); give writable data its own volume."
        ),
        fr=(
            "Supprimez le montage, ou au minimum passez-le en lecture seule (:ro, ou "
            "readonly avec --mount) ; donnez aux données modifiables leur propre volume."
        ),
        docker_run="-v /etc/app:/etc/app:ro",
        compose="volumes: [/etc/app:/etc/app:ro]",
        kubernetes="volumeMounts[].readOnly: true",
    ),
    owasp=(8,),
    cis=("5.6",),
    cis_v18=("5.6",),
    cis_level=1,
    decided_by=(
        "HostConfig.Binds and Mounts[].RW from GET /containers/{id}/json; DockerRootDir from "
        "GET /info"
    ),
)
def sensitive_host_path_writable(c: ContainerFacts) -> Result:
    found, gap = host_mounts(c)
    roots = sensitive_roots(c)
    return verdict([m for m in found if m.writable and is_sensitive(m.source, roots)], gap)


@rule(
    id="CTR-BIND-RW",
    title="Host directory mounted read-write",
    title_fr="Répertoire de l'hôte monté en lecture-écriture",
    # Informational: only the operator knows whether the application must write there.
    severity=Severity.INFO,
    scope=Scope.CONTAINER,
    rationale=(
        "A writable bind mount lets a compromised container alter host files; mounts that "
        "are only read should be read-only."
    ),
    rationale_fr=(
        "Un montage de l'hôte accessible en écriture permet à un conteneur compromis de "
        "modifier des fichiers de l'hôte ; ce qui n'est que lu doit être monté en "
        "lecture seule."
    ),
    remediation=Remediation(
        en="Add :ro (or readonly with --mount) to every host mount the application only reads.",
        fr=(
            "Ajoutez :ro (ou readonly avec --mount) à chaque montage de l'hôte que "
            "l'application ne fait que lire."
        ),
        docker_run="--mount type=bind,source=/srv/app,target=/app,readonly",
        compose="volumes: [/srv/app:/app:ro]",
        kubernetes="volumeMounts[].readOnly: true",
    ),
    owasp=(8,),
    decided_by="HostConfig.Binds and Mounts[].RW from GET /containers/{id}/json",
)
def writable_bind(c: ContainerFacts) -> Result:
    found, gap = host_mounts(c)
    return verdict([m for m in found if m.writable], gap)


@rule(
    id="CTR-DEVICES",
    title="Host devices exposed to the container",
    title_fr="Périphériques de l'hôte exposés au conteneur",
    severity=Severity.MEDIUM,
    scope=Scope.CONTAINER,
    rationale=(
        "A mapped device node (disk, /dev/mem, GPU...) gives the container direct access to "
        "host hardware, often enough to read or corrupt host data."
    ),
    rationale_fr=(
        "Un périphérique mappé (disque, /dev/mem, GPU...) donne au conteneur un accès "
        "direct au matériel de l'hôte, souvent suffisant pour lire ou altérer ses données."
    ),
    remediation=Remediation(
        en=(
            "Remove --device mappings the application does not need; for the rest, restrict "
            "the cgroup permissions (for example r instead of rwm)."
        ),
        fr=(
            "Supprimez les --device dont l'application n'a pas besoin ; pour les autres, "
            "restreignez les permissions cgroup (par exemple r au lieu de rwm)."
        ),
        docker_run="--device /dev/ttyUSB0:/dev/ttyUSB0:r",
        compose='devices: ["/dev/ttyUSB0:/dev/ttyUSB0:r"]',
    ),
    cis=("5.18",),
    cis_v18=("5.18",),
    cis_level=1,
    decided_by="HostConfig.Devices and HostConfig.Privileged from GET /containers/{id}/json",
)
def devices(c: ContainerFacts) -> Result:
    mapped = records(c.inspect, "HostConfig.Devices")
    if isinstance(mapped, Result):
        return mapped
    if flag(c.inspect, "HostConfig.Privileged") is True:  # every host device, whatever Devices says
        return failed("HostConfig.Privileged", True)
    path = "HostConfig.Devices"
    return failed(path, mapped) if mapped else passed(path, dig(c.inspect, path))


@rule(
    id="CTR-READONLY-ROOTFS",
    title="Root filesystem is writable",
    title_fr="Système de fichiers racine accessible en écriture",
    severity=Severity.MEDIUM,
    scope=Scope.CONTAINER,
    rationale=(
        "A writable root filesystem lets an intruder drop tools and alter binaries or "
        "configuration; read-only keeps the container as built."
    ),
    rationale_fr=(
        "Un système de fichiers racine modifiable permet à un intrus de déposer des outils "
        "et d'altérer binaires ou configuration ; en lecture seule, le conteneur reste tel "
        "qu'il a été construit."
    ),
    remediation=Remediation(
        en=(
            "Run with --read-only and give the paths the application writes to a tmpfs or a volume."
        ),
        fr=(
            "Lancez avec --read-only et fournissez un tmpfs ou un volume aux chemins où "
            "l'application écrit."
        ),
        docker_run="--read-only --tmpfs /tmp",
        compose="read_only: true",
        kubernetes="securityContext.readOnlyRootFilesystem: true",
    ),
    owasp=(8,),
    cis=("5.13",),
    cis_v18=("5.13",),
    cis_level=1,
    decided_by="HostConfig.ReadonlyRootfs from GET /containers/{id}/json",
)
def writable_rootfs(c: ContainerFacts) -> Result:
    value = flag(c.inspect, "HostConfig.ReadonlyRootfs")
    if isinstance(value, Result):
        return value
    path = "HostConfig.ReadonlyRootfs"
    return passed(path, True) if value else failed(path, False)

"""Container rules on namespaces shared with the host: network, PID, IPC, UTS and user
(CIS 5.10, 5.16, 5.17, 5.21, 5.31).

Podman has no daemon-wide userns-remap: it chooses a user namespace per container, so on
rootful Podman CTR-HOST-USERNS judges every container's own HostConfig.UsernsMode.
"""

from __future__ import annotations

from rules.base import (
    Remediation,
    Result,
    Scope,
    Severity,
    failed,
    not_applicable,
    passed,
    rule,
    unknown,
)
from rules.engines import is_podman, is_rootless
from rules.facts import ContainerFacts, HostFacts
from rules.fields import NO_DAEMON_INFO, daemon_options, text


def shares_host(c: ContainerFacts, path: str) -> Result:
    mode = text(c.inspect, path)
    if isinstance(mode, Result):
        return mode
    return failed(path, mode) if mode.strip().lower() == "host" else passed(path, mode)


# What Podman's compat inspect puts in UsernsMode: "" for the host's namespace, "private"
# for one of the container's own (--userns auto, --uidmap), "ns:<path>" and "container:<id>"
# for one joined; the CLI spellings are accepted too.
PODMAN_OWN_USERNS = ("private", "auto", "keep-id", "nomap")


def podman_userns(host: HostFacts, mode: str) -> Result:
    rootless_mode = is_rootless(host)
    if rootless_mode is None:
        return unknown("the engine does not say whether it runs rootless")
    if rootless_mode:
        # The engine's own user namespace already maps container root to its user.
        return not_applicable("the engine runs rootless: container root is never host root")
    path, value = "HostConfig.UsernsMode", mode
    if mode.strip().lower().startswith("container:"):
        # --userns container:<ref> (pod members too): the namespace is its owner's.
        ref = mode.partition(":")[2].strip()
        owner = next((o for o in host.containers if ref in (o.id, o.name)), None)
        owner_mode = None if owner is None else text(owner.inspect, path)
        if owner is None or not isinstance(owner_mode, str):
            return unknown(f"the container whose user namespace {mode!r} joins was not collected")
        path, value = f"{owner.name} {path}", owner_mode
    kind = value.strip().lower()
    if kind in ("", "host"):
        return failed(path, value)
    if kind.startswith(PODMAN_OWN_USERNS):
        return passed(path, value)
    return unknown(f"{path} {value!r} joins a user namespace the API does not describe")


@rule(
    id="CTR-HOST-NETWORK",
    title="Container shares the host network namespace",
    title_fr="Le conteneur partage l'espace de noms réseau de l'hôte",
    severity=Severity.HIGH,
    scope=Scope.CONTAINER,
    rationale=(
        "With --network host the container sees every host interface, can bind any host "
        "port and reach services listening on localhost, bypassing network isolation."
    ),
    rationale_fr=(
        "Avec --network host, le conteneur voit toutes les interfaces de l'hôte, peut "
        "écouter sur n'importe quel port et joindre les services locaux, sans isolation "
        "réseau."
    ),
    remediation=Remediation(
        en=("Attach the container to a user-defined network and publish only the ports it serves."),
        fr=(
            "Rattachez le conteneur à un réseau défini par l'utilisateur et ne publiez que "
            "les ports qu'il sert."
        ),
        docker_run="--network app-net -p 127.0.0.1:8080:8080",
        compose="networks: [app-net]",
        kubernetes="spec.hostNetwork: false",
    ),
    owasp=(5,),
    cis=("5.10",),
    cis_v18=("5.10",),
    cis_level=1,
    decided_by="HostConfig.NetworkMode from GET /containers/{id}/json",
)
def host_network(c: ContainerFacts) -> Result:
    return shares_host(c, "HostConfig.NetworkMode")


@rule(
    id="CTR-HOST-PID",
    title="Container shares the host PID namespace",
    title_fr="Le conteneur partage l'espace de noms PID de l'hôte",
    severity=Severity.HIGH,
    scope=Scope.CONTAINER,
    rationale=(
        "With --pid host the container sees every host process, their arguments and "
        "environment, and as root can signal or trace them."
    ),
    rationale_fr=(
        "Avec --pid host, le conteneur voit tous les processus de l'hôte, leurs arguments "
        "et leur environnement, et peut en tant que root les signaler ou les tracer."
    ),
    remediation=Remediation(
        en="Remove --pid host (pid: host in Compose) so the container gets its own namespace.",
        fr=(
            "Supprimez --pid host (pid: host dans Compose) pour que le conteneur ait son "
            "propre espace de noms."
        ),
        kubernetes="spec.hostPID: false",
    ),
    cis=("5.16",),
    cis_v18=("5.16",),
    cis_level=1,
    decided_by="HostConfig.PidMode from GET /containers/{id}/json",
)
def host_pid(c: ContainerFacts) -> Result:
    return shares_host(c, "HostConfig.PidMode")


@rule(
    id="CTR-HOST-IPC",
    title="Container shares the host IPC namespace",
    title_fr="Le conteneur partage l'espace de noms IPC de l'hôte",
    severity=Severity.HIGH,
    scope=Scope.CONTAINER,
    rationale=(
        "With --ipc host the container can read and write the host's shared memory "
        "segments, semaphores and message queues."
    ),
    rationale_fr=(
        "Avec --ipc host, le conteneur peut lire et modifier la mémoire partagée, les "
        "sémaphores et les files de messages de l'hôte."
    ),
    remediation=Remediation(
        en="Use a private IPC namespace (the default) instead of --ipc host.",
        fr="Utilisez un espace de noms IPC privé (le défaut) au lieu de --ipc host.",
        docker_run="--ipc private",
        compose="ipc: private",
        kubernetes="spec.hostIPC: false",
    ),
    cis=("5.17",),
    cis_v18=("5.17",),
    cis_level=1,
    decided_by="HostConfig.IpcMode from GET /containers/{id}/json",
)
def host_ipc(c: ContainerFacts) -> Result:
    return shares_host(c, "HostConfig.IpcMode")


@rule(
    id="CTR-HOST-UTS",
    title="Container shares the host UTS namespace",
    title_fr="Le conteneur partage l'espace de noms UTS de l'hôte",
    # MEDIUM rather than HIGH: changing the shared hostname still needs CAP_SYS_ADMIN.
    severity=Severity.MEDIUM,
    scope=Scope.CONTAINER,
    rationale=(
        "With --uts host the container shares the host's hostname and domain name and, "
        "given enough privilege, can change them for the whole host."
    ),
    rationale_fr=(
        "Avec --uts host, le conteneur partage le nom d'hôte et le nom de domaine de "
        "l'hôte et peut, avec assez de privilèges, les modifier pour tout l'hôte."
    ),
    remediation=Remediation(
        en="Remove --uts host (uts: host in Compose); set --hostname if a name is needed.",
        fr=(
            "Supprimez --uts host (uts: host dans Compose) ; utilisez --hostname si un nom "
            "est nécessaire."
        ),
        docker_run="--hostname app",
        compose="hostname: app",
    ),
    cis=("5.21",),
    cis_v18=("5.21",),
    cis_level=1,
    decided_by="HostConfig.UTSMode from GET /containers/{id}/json",
)
def host_uts(c: ContainerFacts) -> Result:
    return shares_host(c, "HostConfig.UTSMode")


@rule(
    id="CTR-HOST-USERNS",
    title="Container opts out of user namespace remapping",
    title_fr="Le conteneur échappe au remappage des espaces de noms utilisateur",
    severity=Severity.MEDIUM,
    scope=Scope.CONTAINER,
    rationale=(
        "On a daemon with userns-remap, --userns host runs this container in the host's "
        "user namespace, so its root is the host's root again. Rootful Podman has no "
        "daemon-wide remapping: there a container without its own user namespace "
        "(--userns auto, --uidmap) runs as host root."
    ),
    rationale_fr=(
        "Sur un démon avec userns-remap, --userns host place ce conteneur dans l'espace "
        "de noms utilisateur de l'hôte : son root redevient celui de l'hôte. Podman avec "
        "racine n'a pas de remappage global : un conteneur sans espace de noms utilisateur "
        "propre (--userns auto, --uidmap) y tourne en root de l'hôte."
    ),
    remediation=Remediation(
        en="Remove --userns host (userns_mode: host in Compose) from the container.",
        fr="Supprimez --userns host (userns_mode: host dans Compose) du conteneur.",
    ),
    owasp=(2,),
    cis=("5.31",),
    cis_v18=("5.31",),
    cis_level=1,
    decided_by=(
        "HostConfig.UsernsMode from GET /containers/{id}/json; SecurityOptions (name=userns) "
        "from GET /info; on rootful Podman, UsernsMode alone"
    ),
)
def host_userns(c: ContainerFacts) -> Result:
    mode = text(c.inspect, "HostConfig.UsernsMode")
    if isinstance(mode, Result):
        return mode
    if c.host is not None and is_podman(c.host):
        return podman_userns(c.host, mode)
    daemon = daemon_options(c)
    if daemon is None:
        return unknown(NO_DAEMON_INFO)
    if "userns" not in daemon:
        # Without remapping every container already shares it; DMN-USERNS reports that.
        return not_applicable("the daemon does not remap user namespaces")
    return shares_host(c, "HostConfig.UsernsMode")

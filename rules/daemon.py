"""Daemon configuration rules, read from GET /info (HostFacts.info) and GET /networks
(HostFacts.networks). OWASP cheat sheet rules 2, 5, 6, 10, 11 and 13.

Podman serves the same endpoints but has no daemon of its own: the features it lacks
(live-restore, authorization plugins, experimental mode, daemon-wide userns-remap) are
NOT_APPLICABLE with Cause.NOT_SUPPORTED, and fields it hard-codes are not read as settings
(rules.engines, docs/ENGINES.md).
"""

from __future__ import annotations

from typing import Any

from rules.base import (
    Cause,
    Remediation,
    Result,
    Scope,
    Severity,
    dig,
    failed,
    manual,
    not_applicable,
    passed,
    rule,
    unknown,
)
from rules.engines import (
    PODMAN_DEFAULT_NETWORK,
    is_podman,
    is_rootless,
    not_supported,
    rootless_source,
)
from rules.facts import HostFacts
from rules.fields import daemon_security_options, flag, strings

BRIDGE_ICC = "com.docker.network.bridge.enable_icc"
DEFAULT_INSECURE = {"127.0.0.0/8", "::1/128"}  # the daemon always trusts loopback
# How /info names the built-in profile: "default" up to Engine 22, "builtin" from 23 on.
BUILTIN_SECCOMP = {"", "default", "builtin"}
NO_ROOTLESS_MODE = (
    "GET /info says neither through Rootless nor through SecurityOptions whether the engine "
    "runs rootless"
)


def security_options(h: HostFacts) -> tuple[dict[str, dict[str, str]], object] | Result:
    """Parsed /info SecurityOptions, and the raw value for evidence."""
    parsed = daemon_security_options(h.info)
    if isinstance(parsed, Result):
        return parsed
    return parsed, dig(h.info, "SecurityOptions")


@rule(
    id="DMN-USERNS",
    title="User namespace remapping not enabled",
    title_fr="Remappage des espaces de noms utilisateur non activé",
    severity=Severity.MEDIUM,
    scope=Scope.DAEMON,
    rationale=(
        "Without userns-remap, root in a container is root on the host; with it, container "
        "UID 0 maps to an unprivileged host range. Rootless mode gives the same protection. "
        "Podman has no daemon-wide remapping (it chooses user namespaces per container, "
        "judged by CTR-HOST-USERNS), so only rootless Podman is credited here."
    ),
    rationale_fr=(
        "Sans userns-remap, root dans un conteneur est root sur l'hôte ; avec, l'UID 0 du "
        "conteneur correspond à une plage non privilégiée de l'hôte. Le mode sans racine "
        "offre la même protection. Podman n'a pas de remappage global (il choisit l'espace "
        "de noms utilisateur par conteneur, jugé par CTR-HOST-USERNS) : seul Podman sans "
        "racine est crédité ici."
    ),
    remediation=Remediation(
        en=(
            'Set "userns-remap": "default" in daemon.json and restart the daemon; existing '
            "images and volumes must be re-pulled or re-owned for the new UID range."
        ),
        fr=(
            'Ajoutez "userns-remap": "default" dans daemon.json et redémarrez le démon ; '
            "les images et volumes existants doivent être retéléchargés ou réattribués à "
            "la nouvelle plage d'UID."
        ),
        daemon_json='{"userns-remap": "default"}',
    ),
    owasp=(2,),
    cis=("2.9",),
    cis_v18=("2.10",),
    cis_level=2,
    decided_by=(
        "SecurityOptions (name=userns or name=rootless) from GET /info; Rootless on Podman"
    ),
)
def userns_remap(h: HostFacts) -> Result:
    rootless_mode = is_rootless(h)
    if rootless_mode:
        return passed(*rootless_source(h))
    if is_podman(h):
        if rootless_mode is None:
            return unknown(NO_ROOTLESS_MODE)
        return not_supported("daemon-wide user namespace remapping (userns-remap)")
    read = security_options(h)
    if isinstance(read, Result):
        return read
    parsed, raw = read
    if "userns" in parsed:
        return passed("SecurityOptions", raw)
    return failed("SecurityOptions", raw)


def on_default_bridge(inspect: dict[str, Any], name: str = "bridge") -> bool:
    networks = dig(inspect, "NetworkSettings.Networks")
    if isinstance(networks, dict):
        return name in networks
    return dig(inspect, "HostConfig.NetworkMode") in ("default", "bridge")


@rule(
    id="DMN-ICC",
    title="Unrestricted traffic between containers on the default bridge",
    title_fr="Trafic libre entre conteneurs sur le pont par défaut",
    severity=Severity.LOW,
    scope=Scope.DAEMON,
    rationale=(
        "On the default bridge every container can reach every other one on any port. "
        "Containers on user-defined networks are not affected, so this fails only when "
        "some container actually sits on the default bridge with icc on. Podman's default "
        "network has no icc switch, so there any container on it fails the rule."
    ),
    rationale_fr=(
        "Sur le pont par défaut, chaque conteneur peut joindre tous les autres sur tous "
        "les ports. Les réseaux définis par l'utilisateur ne sont pas concernés : la règle "
        "n'échoue que si un conteneur se trouve sur le pont par défaut avec icc actif. Le "
        "réseau par défaut de Podman n'a pas de réglage icc : tout conteneur qui s'y trouve "
        "fait échouer la règle."
    ),
    remediation=Remediation(
        en=(
            "Move containers to user-defined networks that group only those that must talk "
            "to each other, or disable icc on the default bridge."
        ),
        fr=(
            "Déplacez les conteneurs vers des réseaux définis par l'utilisateur regroupant "
            "seulement ceux qui doivent communiquer, ou désactivez icc sur le pont par défaut."
        ),
        docker_run="--network app-net",
        compose="networks: [app-net]",
        kubernetes="kind: NetworkPolicy",
        daemon_json='{"icc": false}',
    ),
    owasp=(5,),
    cis=("2.2",),
    cis_v18=("2.2",),
    cis_level=1,
    decided_by=(
        "Options[com.docker.network.bridge.enable_icc] of the bridge network from GET "
        "/networks; the containers' NetworkSettings.Networks (network podman on Podman)"
    ),
)
def inter_container_communication(h: HostFacts) -> Result:
    if is_podman(h):
        # netavark and CNI bridges let every member reach every other; nothing to read.
        field = f"containers on network {PODMAN_DEFAULT_NETWORK}"
        attached = sorted(
            c.name for c in h.containers if on_default_bridge(c.inspect, PODMAN_DEFAULT_NETWORK)
        )
        return failed(field, attached) if attached else passed(field, attached)
    # /info does not expose icc; the default bridge's options in GET /networks do.
    if not h.networks:
        return unknown("the network list (GET /networks) was not collected")
    bridge = next(
        (n for n in h.networks if isinstance(n, dict) and n.get("Name") == "bridge"), None
    )
    if bridge is None:
        return not_applicable("the daemon runs without a default bridge network")
    options = bridge.get("Options")
    icc = options.get(BRIDGE_ICC) if isinstance(options, dict) else None
    field = f"networks[bridge].Options.{BRIDGE_ICC}"
    if not isinstance(icc, str):
        return unknown(f"{field} is absent from the network data")
    if icc.lower() != "true":
        return passed(field, icc)
    attached = sorted(c.name for c in h.containers if on_default_bridge(c.inspect))
    if attached:
        return failed(field, icc, ("containers on network bridge", attached))
    return passed(field, icc)


@rule(
    id="DMN-DEBUG",
    title="Daemon runs in debug mode",
    title_fr="Le démon s'exécute en mode débogage",
    severity=Severity.LOW,
    scope=Scope.DAEMON,
    rationale=(
        "Debug logging floods the logs, can record request details that should not be "
        "kept, and hides the events an operator needs to review."
    ),
    rationale_fr=(
        "La journalisation en débogage inonde les journaux, peut conserver des détails de "
        "requêtes qui ne devraient pas l'être et noie les événements à examiner."
    ),
    remediation=Remediation(
        en='Set "log-level": "info" (and remove "debug": true) in daemon.json.',
        fr='Réglez "log-level": "info" (et retirez "debug": true) dans daemon.json.',
        daemon_json='{"log-level": "info", "debug": false}',
    ),
    owasp=(10,),
    cis=("2.3",),
    cis_v18=("2.3",),
    cis_level=1,
    decided_by=(
        "Debug from GET /info (reflects --debug only: a --log-level set alone is not reported)"
    ),
)
def debug_mode(h: HostFacts) -> Result:
    # /info reports --debug (or "debug": true) only. A daemon started with --log-level=debug
    # alone logs just as much and still shows Debug = false: that case needs the daemon's
    # command line or daemon.json, which the host rules read over SSH.
    debug = flag(h.info, "Debug")
    if isinstance(debug, Result):
        return debug
    return failed("Debug", True) if debug else passed("Debug", False)


@rule(
    id="DMN-LIVE-RESTORE",
    title="Live restore not enabled",
    title_fr="Restauration à chaud non activée",
    severity=Severity.LOW,
    scope=Scope.DAEMON,
    rationale=(
        "Without live-restore, restarting or upgrading the daemon stops every container, "
        "which discourages applying security updates promptly. Podman has no such daemon: "
        "conmon keeps each container running whatever its API service does."
    ),
    rationale_fr=(
        "Sans live-restore, redémarrer ou mettre à jour le démon arrête tous les "
        "conteneurs, ce qui décourage d'appliquer rapidement les correctifs. Podman n'a pas "
        "ce démon : conmon maintient chaque conteneur quoi que fasse son service d'API."
    ),
    remediation=Remediation(
        en='Set "live-restore": true in daemon.json and reload the daemon.',
        fr='Ajoutez "live-restore": true dans daemon.json et rechargez le démon.',
        daemon_json='{"live-restore": true}',
    ),
    cis=("2.15",),
    cis_v18=("2.16",),
    cis_level=1,
    decided_by="LiveRestoreEnabled and Swarm.LocalNodeState from GET /info",
)
def live_restore(h: HostFacts) -> Result:
    if is_podman(h):  # its compat /info hard-codes LiveRestoreEnabled false
        return not_supported("live-restore")
    if dig(h.info, "Swarm.LocalNodeState") == "active":
        # The daemon refuses live-restore in swarm mode.
        return not_applicable("live-restore is incompatible with swarm mode")
    enabled = flag(h.info, "LiveRestoreEnabled")
    if isinstance(enabled, Result):
        return enabled
    return passed("LiveRestoreEnabled", True) if enabled else failed("LiveRestoreEnabled", False)


@rule(
    id="DMN-ROOTLESS",
    title="Daemon does not run in rootless mode",
    title_fr="Le démon ne s'exécute pas en mode sans racine",
    # Informational: rootless has real limitations and is not the right choice everywhere.
    severity=Severity.INFO,
    scope=Scope.DAEMON,
    rationale=(
        "In rootless mode the daemon and its containers run as an unprivileged user, so "
        "even a container escape does not give root on the host. Rootless Docker and "
        "rootless Podman are both credited."
    ),
    rationale_fr=(
        "En mode sans racine, le démon et ses conteneurs s'exécutent sous un utilisateur "
        "non privilégié : même une évasion de conteneur ne donne pas root sur l'hôte. "
        "Docker et Podman sans racine sont tous deux crédités."
    ),
    remediation=Remediation(
        en=(
            "Where its known limitations allow, install the daemon in rootless mode "
            "(dockerd-rootless-setuptool.sh install) or consider Podman."
        ),
        fr=(
            "Si ses limitations connues le permettent, installez le démon en mode sans "
            "racine (dockerd-rootless-setuptool.sh install) ou envisagez Podman."
        ),
    ),
    owasp=(11,),
    cis=("2.1",),
    cis_v18=("2.1",),
    cis_level=1,
    decided_by=(
        "SecurityOptions (name=rootless) from GET /info; Rootless on Podman, which 4.x "
        "reports only there"
    ),
)
def rootless(h: HostFacts) -> Result:
    rootless_mode = is_rootless(h)
    if rootless_mode is None:
        return unknown(NO_ROOTLESS_MODE)
    field, value = rootless_source(h)
    return passed(field, value) if rootless_mode else failed(field, value)


@rule(
    id="DMN-SECCOMP",
    title="Daemon-wide seccomp profile disabled",
    title_fr="Profil seccomp désactivé pour tout le démon",
    severity=Severity.HIGH,
    scope=Scope.DAEMON,
    rationale=(
        'With "seccomp-profile": "unconfined" every container that does not bring its own '
        "profile runs without system call filtering. Podman's API always reports the "
        "default profile (its real default is containers.conf seccomp_profile), so there "
        "the verdict is UNKNOWN."
    ),
    rationale_fr=(
        'Avec "seccomp-profile": "unconfined", tout conteneur sans profil propre '
        "s'exécute sans filtrage des appels système. L'API de Podman annonce toujours le "
        "profil par défaut (le vrai réglage est seccomp_profile dans containers.conf) : le "
        "verdict y est UNKNOWN."
    ),
    remediation=Remediation(
        en=(
            'Remove "seccomp-profile": "unconfined" from daemon.json so the built-in '
            "default applies, or point it at a reviewed custom profile."
        ),
        fr=(
            'Retirez "seccomp-profile": "unconfined" de daemon.json pour revenir au profil '
            "intégré, ou indiquez un profil personnalisé relu."
        ),
        daemon_json='{"seccomp-profile": "builtin"}',
    ),
    owasp=(6,),
    cis=("2.17",),
    cis_v18=("2.18",),
    cis_level=2,
    decided_by="SecurityOptions (name=seccomp,profile=...) from GET /info",
)
def daemon_seccomp(h: HostFacts) -> Result:
    if is_podman(h):
        # compat/info.go hard-codes profile=default whatever containers.conf says.
        return unknown(
            "Podman's /info always reports the default seccomp profile; the engine-wide "
            "default is containers.conf seccomp_profile, which the API does not show",
            Cause.NOT_SUPPORTED,
        )
    read = security_options(h)
    if isinstance(read, Result):
        return read
    parsed, raw = read
    if "seccomp" not in parsed:
        return unknown("the daemon reports no seccomp support, so no profile can be assessed")
    profile = parsed["seccomp"].get("profile", "")
    if profile.lower() == "unconfined":
        return failed("SecurityOptions", raw)
    if profile.lower() in BUILTIN_SECCOMP:
        return passed("SecurityOptions", raw)
    # A custom profile is what CIS 2.17 asks for where the default does not fit, but /info
    # shows only its path: an allow-everything file would look the same.
    return manual(
        f"the daemon applies the custom seccomp profile {profile!r}; the API does not show "
        "its content: check that it still blocks what the default profile blocks"
    )


@rule(
    id="DMN-AUTHZ",
    title="No authorization plugin",
    title_fr="Aucun plugin d'autorisation",
    severity=Severity.LOW,
    scope=Scope.DAEMON,
    rationale=(
        "Without an authorization plugin, anyone who reaches the API socket may do "
        "everything, including starting privileged containers. Podman has no "
        "authorization plugins: access to its API is the socket's file permissions."
    ),
    rationale_fr=(
        "Sans plugin d'autorisation, quiconque atteint le socket de l'API peut tout faire, "
        "y compris lancer des conteneurs privilégiés. Podman n'a pas de plugins "
        "d'autorisation : l'accès à son API dépend des permissions du socket."
    ),
    remediation=Remediation(
        en=(
            "Install an authorization plugin (for example Open Policy Agent's) that limits "
            "which API calls each client may make."
        ),
        fr=(
            "Installez un plugin d'autorisation (par exemple celui d'Open Policy Agent) qui "
            "limite les appels d'API permis à chaque client."
        ),
        daemon_json='{"authorization-plugins": ["opa-docker-authz"]}',
    ),
    cis=("2.12",),
    cis_v18=("2.13",),
    cis_level=2,
    decided_by="Plugins.Authorization from GET /info",
)
def authorization_plugin(h: HostFacts) -> Result:
    if is_podman(h):
        return not_supported("authorization plugins")
    plugins = strings(h.info, "Plugins.Authorization")
    if isinstance(plugins, Result):
        return plugins
    field = "Plugins.Authorization"
    return passed(field, plugins) if plugins else failed(field, dig(h.info, field))


@rule(
    id="DMN-INSECURE-REGISTRY",
    title="Insecure registries allowed",
    title_fr="Registres non sécurisés autorisés",
    severity=Severity.MEDIUM,
    scope=Scope.DAEMON,
    rationale=(
        "The daemon pulls from insecure registries over plain HTTP or unverified TLS, so "
        "anyone on the path can substitute the images it runs."
    ),
    rationale_fr=(
        "Le démon récupère les images des registres non sécurisés en HTTP ou en TLS non "
        "vérifié : n'importe qui sur le trajet peut substituer les images exécutées."
    ),
    remediation=Remediation(
        en=(
            'Remove entries from "insecure-registries" and give those registries a trusted '
            "TLS certificate."
        ),
        fr=(
            'Retirez les entrées de "insecure-registries" et dotez ces registres d\'un '
            "certificat TLS de confiance."
        ),
        daemon_json='{"insecure-registries": []}',
    ),
    owasp=(13,),
    cis=("2.5",),
    cis_v18=("2.5",),
    cis_level=1,
    decided_by="RegistryConfig.InsecureRegistryCIDRs and IndexConfigs[].Secure from GET /info",
)
def insecure_registries(h: HostFacts) -> Result:
    path = "RegistryConfig.InsecureRegistryCIDRs"
    cidrs = strings(h.info, path)
    if isinstance(cidrs, Result):
        return cidrs
    extra = [cidr for cidr in cidrs if cidr not in DEFAULT_INSECURE]
    indexes = dig(h.info, "RegistryConfig.IndexConfigs")
    named = sorted(
        name
        for name, conf in (indexes.items() if isinstance(indexes, dict) else [])
        if isinstance(conf, dict) and conf.get("Secure") is False
    )
    if not extra and not named:
        return passed(path, dig(h.info, path))
    more = [("RegistryConfig.IndexConfigs (Secure: false)", named)] if named else []
    return failed(path, dig(h.info, path), *more)


@rule(
    id="DMN-EXPERIMENTAL",
    title="Experimental features enabled",
    title_fr="Fonctionnalités expérimentales activées",
    severity=Severity.LOW,
    scope=Scope.DAEMON,
    rationale=(
        "Experimental features are unfinished and get less security review than stable "
        "ones; they have no place on a production daemon. Podman has no experimental mode "
        "(its API always reports ExperimentalBuild true)."
    ),
    rationale_fr=(
        "Les fonctionnalités expérimentales sont inachevées et moins auditées que les "
        "fonctionnalités stables ; elles n'ont pas leur place sur un démon de production. "
        "Podman n'a pas de mode expérimental (son API annonce toujours ExperimentalBuild "
        "true)."
    ),
    remediation=Remediation(
        en='Set "experimental": false in daemon.json (or drop --experimental).',
        fr='Réglez "experimental": false dans daemon.json (ou retirez --experimental).',
        daemon_json='{"experimental": false}',
    ),
    cis=("2.18",),
    cis_v18=("2.19",),
    cis_level=1,
    decided_by="ExperimentalBuild from GET /info",
)
def experimental(h: HostFacts) -> Result:
    if is_podman(h):
        return not_supported("experimental mode")
    enabled = flag(h.info, "ExperimentalBuild")
    if isinstance(enabled, Result):
        return enabled
    return failed("ExperimentalBuild", True) if enabled else passed("ExperimentalBuild", False)

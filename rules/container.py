"""Container rules on privilege: user, privileged mode, capabilities, no-new-privileges,
seccomp and AppArmor (OWASP cheat sheet rules 2, 3, 4 and 6).

Each check reads GET /containers/{id}/json as kept in ContainerFacts.inspect; the daemon's
GET /info (ContainerFacts.host.info) is read only where the daemon decides the outcome.
"""

from __future__ import annotations

from rules.base import (
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
from rules.engines import is_podman
from rules.facts import ContainerFacts
from rules.fields import (
    NO_DAEMON_INFO,
    TRUTHY,
    daemon_options,
    flag,
    root_user,
    security_options,
    strings,
    text,
)

# Docker's default capability set (moby oci/caps/defaults.go); adding one of these back
# after --cap-drop ALL is the cheat sheet's recommended pattern, not a finding.
DEFAULT_CAPS = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "NET_RAW",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
# What Podman's stock containers.conf leaves out of that set; its compat inspect reports the
# effective set against Docker's, so every Podman container shows at least these in CapDrop.
PODMAN_STOCK_DROPS = frozenset({"AUDIT_WRITE", "MKNOD", "NET_RAW"})
# Capabilities with known paths from container root to host root; named apart in evidence.
DANGEROUS_CAPS = frozenset(
    {
        "ALL",
        "BPF",
        "DAC_READ_SEARCH",
        "MAC_ADMIN",
        "MAC_OVERRIDE",
        "NET_ADMIN",
        "SYS_ADMIN",
        "SYS_MODULE",
        "SYS_PTRACE",
        "SYS_RAWIO",
    }
)


def cap_name(cap: str) -> str:
    # The API keeps what the client sent: "sys_admin", "SYS_ADMIN" and "CAP_SYS_ADMIN" alike.
    return cap.strip().upper().removeprefix("CAP_")


def shown_options(c: ContainerFacts) -> object:
    """HostConfig.SecurityOpt for evidence, as the daemon sent it (null stays null).

    An inline seccomp profile is kilobytes of JSON: evidence keeps its key, not its body.
    """
    opts = dig(c.inspect, "HostConfig.SecurityOpt")
    if not isinstance(opts, list):
        return opts
    inline = ("seccomp={", "seccomp:{")
    return ["seccomp=<inline profile>" if str(o).startswith(inline) else o for o in opts]


@rule(
    id="CTR-PRIVILEGED",
    title="Container runs in privileged mode",
    title_fr="Le conteneur s'exécute en mode privilégié",
    severity=Severity.CRITICAL,
    scope=Scope.CONTAINER,
    rationale=(
        "--privileged grants every kernel capability and every host device, and turns off "
        "seccomp and AppArmor: a process in the container can take over the host."
    ),
    rationale_fr=(
        "--privileged accorde toutes les capacités du noyau et tous les périphériques de "
        "l'hôte, et désactive seccomp et AppArmor : un processus du conteneur peut prendre "
        "le contrôle de l'hôte."
    ),
    remediation=Remediation(
        en=(
            "Recreate the container without --privileged. If it needs one specific "
            "privilege, grant only that capability or device and keep the default seccomp "
            "and AppArmor profiles."
        ),
        fr=(
            "Recréez le conteneur sans --privileged. S'il a besoin d'un privilège précis, "
            "n'accordez que cette capacité ou ce périphérique et conservez les profils "
            "seccomp et AppArmor par défaut."
        ),
        docker_run="--privileged=false",
        compose="privileged: false",
        kubernetes="securityContext.privileged: false",
    ),
    owasp=(3,),
    cis=("5.5",),
    cis_v18=("5.5",),
    cis_level=1,
    decided_by="HostConfig.Privileged from GET /containers/{id}/json",
)
def privileged(c: ContainerFacts) -> Result:
    value = flag(c.inspect, "HostConfig.Privileged")
    if isinstance(value, Result):
        return value
    path = "HostConfig.Privileged"
    return failed(path, True) if value else passed(path, False)


@rule(
    id="CTR-USER",
    title="Container runs as root",
    title_fr="Le conteneur s'exécute en tant que root",
    severity=Severity.HIGH,
    scope=Scope.CONTAINER,
    rationale=(
        "A process running as UID 0 in the container is UID 0 on the host unless the daemon "
        "remaps user namespaces; any escape or writable host mount then yields host root."
    ),
    rationale_fr=(
        "Un processus exécuté avec l'UID 0 dans le conteneur est l'UID 0 de l'hôte, sauf "
        "si le démon remappe les espaces de noms utilisateur ; toute évasion ou tout "
        "montage de l'hôte accessible en écriture donne alors root sur l'hôte."
    ),
    remediation=Remediation(
        en=(
            "Run the process as an unprivileged user: create one in the image and switch to "
            "it with a USER instruction, or start the container with a non-zero --user. "
            "Where root cannot be avoided, enable user namespace remapping on the daemon."
        ),
        fr=(
            "Exécutez le processus sous un utilisateur non privilégié : créez-le dans "
            "l'image et activez-le avec l'instruction USER, ou lancez le conteneur avec un "
            "--user non nul. Si root est inévitable, activez le remappage des espaces de "
            "noms utilisateur sur le démon."
        ),
        docker_run="--user 10001:10001",
        compose='user: "10001:10001"',
        kubernetes="securityContext.runAsUser: 10001",
        daemon_json='{"userns-remap": "default"}',
    ),
    owasp=(2,),
    cis=("4.1",),
    cis_v18=("4.1",),
    cis_level=1,
    decided_by=(
        "Config.User from GET /containers/{id}/json (the image's USER is copied there at create)"
    ),
)
def runs_as_root(c: ContainerFacts) -> Result:
    user = text(c.inspect, "Config.User")
    if isinstance(user, Result):
        return user
    raw = dig(c.inspect, "Config.User")
    return failed("Config.User", raw) if root_user(user) else passed("Config.User", raw)


@rule(
    id="CTR-CAP-ADD",
    title="Extra Linux capabilities added",
    title_fr="Capacités Linux supplémentaires ajoutées",
    severity=Severity.HIGH,
    scope=Scope.CONTAINER,
    rationale=(
        "Capabilities beyond Docker's default set hand container root powers with known "
        "paths to the host: SYS_ADMIN is close to --privileged, SYS_PTRACE reads other "
        "processes, SYS_MODULE loads kernel code, DAC_READ_SEARCH reads any host file."
    ),
    rationale_fr=(
        "Les capacités hors de l'ensemble par défaut de Docker donnent au root du "
        "conteneur des moyens connus d'atteindre l'hôte : SYS_ADMIN équivaut presque à "
        "--privileged, SYS_PTRACE lit les autres processus, SYS_MODULE charge du code "
        "noyau, DAC_READ_SEARCH lit n'importe quel fichier de l'hôte."
    ),
    remediation=Remediation(
        en=(
            "Remove every added capability the application does not need. Start from "
            "--cap-drop ALL and add back only the ones it is shown to need."
        ),
        fr=(
            "Retirez toute capacité ajoutée dont l'application n'a pas besoin. Partez de "
            "--cap-drop ALL et ne rajoutez que celles dont le besoin est démontré."
        ),
        docker_run="--cap-drop ALL --cap-add NET_BIND_SERVICE",
        compose="cap_add: [NET_BIND_SERVICE]",
        kubernetes="securityContext.capabilities.add: [NET_BIND_SERVICE]",
    ),
    owasp=(3,),
    cis=("5.4",),
    cis_v18=("5.4",),
    cis_level=1,
    decided_by="HostConfig.CapAdd and HostConfig.Privileged from GET /containers/{id}/json",
)
def capabilities_added(c: ContainerFacts) -> Result:
    added = strings(c.inspect, "HostConfig.CapAdd")
    if isinstance(added, Result):
        return added
    extra = [cap for cap in added if cap_name(cap) not in DEFAULT_CAPS]
    if extra:
        dangerous = [cap for cap in extra if cap_name(cap) in DANGEROUS_CAPS]
        more = [("HostConfig.CapAdd (dangerous)", dangerous)] if dangerous else []
        return failed("HostConfig.CapAdd", dig(c.inspect, "HostConfig.CapAdd"), *more)
    privileged = flag(c.inspect, "HostConfig.Privileged")
    if isinstance(privileged, Result):
        return privileged
    if privileged:  # --privileged grants every capability whatever CapAdd says
        return failed("HostConfig.Privileged", True)
    return passed("HostConfig.CapAdd", dig(c.inspect, "HostConfig.CapAdd"))


@rule(
    id="CTR-CAP-DROP",
    title="Default capabilities not dropped",
    title_fr="Capacités par défaut non supprimées",
    severity=Severity.LOW,
    scope=Scope.CONTAINER,
    rationale=(
        "Docker's default set still holds capabilities most services never use (NET_RAW, "
        "MKNOD, SETFCAP...). Dropping ALL and adding back the few needed shrinks what an "
        "attacker inherits. Podman never shows ALL: it lists each default capability "
        "removed, so there the rule looks at which ones remain."
    ),
    rationale_fr=(
        "L'ensemble par défaut de Docker contient encore des capacités que la plupart des "
        "services n'utilisent jamais (NET_RAW, MKNOD, SETFCAP...). Tout supprimer puis "
        "rajouter les quelques capacités utiles réduit ce dont hérite un attaquant. Podman "
        "n'affiche jamais ALL mais chaque capacité par défaut retirée : la règle y regarde "
        "celles qui restent."
    ),
    remediation=Remediation(
        en="Start the container with --cap-drop ALL, then add back only what it needs.",
        fr=(
            "Lancez le conteneur avec --cap-drop ALL, puis ne rajoutez que les capacités "
            "nécessaires."
        ),
        docker_run="--cap-drop ALL",
        compose="cap_drop: [ALL]",
        kubernetes="securityContext.capabilities.drop: [ALL]",
    ),
    owasp=(3,),
    cis=("5.4",),
    cis_v18=("5.4",),
    cis_level=1,
    decided_by="HostConfig.CapDrop and HostConfig.Privileged from GET /containers/{id}/json",
)
def capabilities_not_dropped(c: ContainerFacts) -> Result:
    privileged = flag(c.inspect, "HostConfig.Privileged")
    if privileged is True:  # the daemon ignores --cap-drop for privileged containers
        return failed("HostConfig.Privileged", True)
    dropped = strings(c.inspect, "HostConfig.CapDrop")
    if isinstance(dropped, Result):
        return dropped
    if any(cap_name(cap) == "ALL" for cap in dropped):
        return passed("HostConfig.CapDrop", dropped)
    if c.host is not None and is_podman(c.host):
        return podman_caps_dropped(c, dropped)
    return failed("HostConfig.CapDrop", dig(c.inspect, "HostConfig.CapDrop"))


def podman_caps_dropped(c: ContainerFacts, dropped: list[str]) -> Result:
    """Podman reports --cap-drop ALL as the default capabilities it removed, and a default
    one added back after it as neither dropped nor added: only what remains can be judged."""
    removed = {cap_name(cap) for cap in dropped}
    added = strings(c.inspect, "HostConfig.CapAdd")
    readded = {cap_name(cap) for cap in added} if isinstance(added, list) else set()
    kept = sorted(DEFAULT_CAPS - removed - readded)
    if not kept:
        return passed("HostConfig.CapDrop", dropped)
    if removed & DEFAULT_CAPS <= PODMAN_STOCK_DROPS:  # nothing dropped beyond Podman's own
        return failed("HostConfig.CapDrop", dig(c.inspect, "HostConfig.CapDrop"))
    # --cap-drop ALL --cap-add CHOWN and --cap-drop <all but CHOWN> look the same here.
    return manual(
        f"Podman lists the capabilities removed, not --cap-drop ALL: {', '.join(kept)} "
        "remain from the default set; check that each one is needed"
    )


@rule(
    id="CTR-NO-NEW-PRIVILEGES",
    title="Privilege escalation not blocked (no-new-privileges)",
    title_fr="Élévation de privilèges non bloquée (no-new-privileges)",
    severity=Severity.MEDIUM,
    scope=Scope.CONTAINER,
    rationale=(
        "Without no-new-privileges, a setuid or setgid binary in the image lets a process "
        "gain privileges it was not started with. A daemon-wide default set in daemon.json "
        "is not visible through the API, so the container's own options are read."
    ),
    rationale_fr=(
        "Sans no-new-privileges, un binaire setuid ou setgid de l'image permet à un "
        "processus d'obtenir des privilèges qu'il n'avait pas au démarrage. Un réglage "
        "global dans daemon.json n'est pas visible par l'API : ce sont les options du "
        "conteneur qui sont lues."
    ),
    remediation=Remediation(
        en=(
            "Start the container with --security-opt no-new-privileges:true, and consider "
            "making it the daemon default."
        ),
        fr=(
            "Lancez le conteneur avec --security-opt no-new-privileges:true, et envisagez "
            "d'en faire la valeur par défaut du démon."
        ),
        docker_run="--security-opt no-new-privileges:true",
        compose='security_opt: ["no-new-privileges:true"]',
        kubernetes="securityContext.allowPrivilegeEscalation: false",
        daemon_json='{"no-new-privileges": true}',
    ),
    owasp=(4,),
    cis=("5.26",),
    cis_v18=("5.26",),
    cis_level=1,
    decided_by=(
        "HostConfig.SecurityOpt from GET /containers/{id}/json; SecurityOptions from GET /info "
        "(Engine 25+ names a daemon-wide default)"
    ),
)
def no_new_privileges(c: ContainerFacts) -> Result:
    opts = strings(c.inspect, "HostConfig.SecurityOpt")
    if isinstance(opts, Result):
        return opts
    value = security_options(opts).get("no-new-privileges", "")
    if value.lower() in TRUTHY:
        return passed("HostConfig.SecurityOpt", shown_options(c))
    return failed("HostConfig.SecurityOpt", shown_options(c))


@rule(
    id="CTR-SECCOMP",
    title="seccomp filtering disabled",
    title_fr="Filtrage seccomp désactivé",
    severity=Severity.HIGH,
    scope=Scope.CONTAINER,
    rationale=(
        "The default seccomp profile blocks system calls that containers rarely need and "
        "kernel exploits often use. seccomp=unconfined or --privileged removes that layer."
    ),
    rationale_fr=(
        "Le profil seccomp par défaut bloque des appels système rarement utiles aux "
        "conteneurs et souvent utilisés par les exploits noyau. seccomp=unconfined ou "
        "--privileged supprime cette protection."
    ),
    remediation=Remediation(
        en=(
            "Remove seccomp=unconfined (and --privileged). If the default profile blocks a "
            "call the application needs, write a custom profile that allows just that call."
        ),
        fr=(
            "Supprimez seccomp=unconfined (et --privileged). Si le profil par défaut bloque "
            "un appel nécessaire, écrivez un profil personnalisé qui n'autorise que cet "
            "appel."
        ),
        docker_run="--security-opt seccomp=./profile.json",
        compose='security_opt: ["seccomp=./profile.json"]',
        kubernetes="securityContext.seccompProfile.type: RuntimeDefault",
    ),
    owasp=(6,),
    cis=("5.22",),
    cis_v18=("5.22",),
    cis_level=1,
    decided_by=(
        "HostConfig.SecurityOpt and HostConfig.Privileged from GET /containers/{id}/json; "
        "SecurityOptions from GET /info"
    ),
)
def seccomp_disabled(c: ContainerFacts) -> Result:
    opts = strings(c.inspect, "HostConfig.SecurityOpt")
    if isinstance(opts, Result):
        return opts
    own = security_options(opts).get("seccomp")
    if own is not None and own.lower() == "unconfined":
        return failed("HostConfig.SecurityOpt", shown_options(c))
    daemon = daemon_options(c)
    if daemon is not None and "seccomp" not in daemon:
        return not_applicable("the daemon reports no seccomp support (kernel or build)")
    privileged = flag(c.inspect, "HostConfig.Privileged")
    if isinstance(privileged, Result):
        return privileged
    if privileged:  # Docker never applies a seccomp profile to privileged containers
        return failed("HostConfig.Privileged", True)
    if daemon is None:
        return unknown(NO_DAEMON_INFO)
    if own is None and daemon["seccomp"].get("profile", "").lower() == "unconfined":
        # A daemon-wide "seccomp-profile": "unconfined" reaches every container that does
        # not bring its own profile.
        info = c.host.info if c.host else {}
        return failed("info.SecurityOptions", dig(info, "SecurityOptions"))
    return passed("HostConfig.SecurityOpt", shown_options(c))


@rule(
    id="CTR-APPARMOR",
    title="AppArmor confinement disabled",
    title_fr="Confinement AppArmor désactivé",
    severity=Severity.HIGH,
    scope=Scope.CONTAINER,
    rationale=(
        "On hosts with AppArmor, the docker-default profile denies writes to /proc and /sys "
        "and mounts; apparmor=unconfined or --privileged removes it."
    ),
    rationale_fr=(
        "Sur les hôtes dotés d'AppArmor, le profil docker-default interdit les écritures "
        "dans /proc et /sys ainsi que les montages ; apparmor=unconfined ou --privileged "
        "le supprime."
    ),
    remediation=Remediation(
        en=(
            "Remove apparmor=unconfined (and --privileged) so the default profile applies, "
            "or load a custom profile tailored to the application."
        ),
        fr=(
            "Supprimez apparmor=unconfined (et --privileged) pour que le profil par défaut "
            "s'applique, ou chargez un profil personnalisé adapté à l'application."
        ),
        docker_run="--security-opt apparmor=docker-default",
        compose='security_opt: ["apparmor=docker-default"]',
        kubernetes="securityContext.appArmorProfile.type: RuntimeDefault",
    ),
    owasp=(6,),
    cis=("5.2",),
    cis_v18=("5.2",),
    cis_level=1,
    decided_by=(
        "HostConfig.SecurityOpt, AppArmorProfile and HostConfig.Privileged from GET "
        "/containers/{id}/json; SecurityOptions from GET /info"
    ),
)
def apparmor_disabled(c: ContainerFacts) -> Result:
    opts = strings(c.inspect, "HostConfig.SecurityOpt")
    if isinstance(opts, Result):
        return opts
    own = security_options(opts).get("apparmor", "")
    if own.lower() == "unconfined":
        return failed("HostConfig.SecurityOpt", shown_options(c))
    privileged = flag(c.inspect, "HostConfig.Privileged")
    profile = text(c.inspect, "AppArmorProfile")
    if profile == "unconfined":
        more = [("HostConfig.Privileged", True)] if privileged is True else []
        return failed("AppArmorProfile", profile, *more)
    daemon = daemon_options(c)
    if daemon is not None and "apparmor" not in daemon:
        return not_applicable("the daemon reports no AppArmor support on this host")
    if own:  # an explicitly named profile is applied even to privileged containers
        return passed("HostConfig.SecurityOpt", shown_options(c))
    if isinstance(privileged, Result):
        return privileged
    if privileged:
        return failed("HostConfig.Privileged", True)
    if isinstance(profile, Result):
        return profile
    if profile:
        return passed("AppArmorProfile", profile)
    if daemon is None:
        return unknown(NO_DAEMON_INFO)
    # Docker records the profile when the container starts; a never-started one has none yet.
    return unknown("no AppArmor profile is recorded for this container yet")

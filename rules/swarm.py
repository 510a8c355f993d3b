"""Swarm rules (CIS section 7), judged only on a swarm manager: /info shows the cluster's
settings (Swarm.Cluster) and GET /networks its overlay networks only where
Swarm.ControlAvailable is true. Every other host gets NOT APPLICABLE.

Only what that data shows is checked: the number of managers (7.1), encryption of overlay
networks (7.3) and manager auto-lock (7.5). Whether services bind to a specific interface
(7.2), and certificate rotation habits (7.6 to 7.8), are not in the Engine API's answers.
"""

from __future__ import annotations

from typing import Any

from rules.base import (
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
from rules.facts import HostFacts
from rules.fields import flag, number

# Raft needs a majority: an even count adds a node to lose without adding tolerance, and
# more than seven slows every write for no practical gain (Docker's own guidance).
MAX_MANAGERS = 7
ENCRYPTED = "encrypted"


def not_a_manager(h: HostFacts) -> Result | None:
    state = dig(h.info, "Swarm.LocalNodeState")
    control = dig(h.info, "Swarm.ControlAvailable")
    if not isinstance(state, str) or not isinstance(control, bool):
        return unknown("Swarm.LocalNodeState or Swarm.ControlAvailable is absent from /info")
    if state != "active":
        return not_applicable("this host is not in a swarm")
    if not control:
        return not_applicable("this node is a swarm worker: cluster settings are on the managers")
    return None


@rule(
    id="DMN-SWARM-MANAGERS",
    title="Swarm manager count gives no fault tolerance or is excessive",
    title_fr="Nombre de managers du swarm sans tolérance aux pannes ou excessif",
    severity=Severity.LOW,
    scope=Scope.DAEMON,
    rationale=(
        "Managers keep the cluster state by majority vote: an even number tolerates no more "
        "failures than one fewer, and every extra manager is one more node holding the "
        "cluster's keys."
    ),
    rationale_fr=(
        "Les managers conservent l'état du cluster par vote majoritaire : un nombre pair ne "
        "tolère pas plus de pannes qu'un manager de moins, et chaque manager en trop est un "
        "nœud de plus détenant les clés du cluster."
    ),
    remediation=Remediation(
        en="Run an odd number of managers, 3 or 5 for most clusters, and demote the rest.",
        fr=(
            "Faites tourner un nombre impair de managers, 3 ou 5 pour la plupart des "
            "clusters, et rétrogradez les autres."
        ),
        docker_run="docker node demote <node>",
    ),
    cis=("7.1",),
    cis_v18=("7.1",),
    cis_level=1,
    decided_by="Swarm.Managers, Swarm.LocalNodeState and Swarm.ControlAvailable from GET /info",
)
def manager_count(h: HostFacts) -> Result:
    skip = not_a_manager(h)
    if skip is not None:
        return skip
    managers = number(h.info, "Swarm.Managers")
    if isinstance(managers, Result):
        return managers
    if managers > 1 and managers % 2 == 0 or managers > MAX_MANAGERS:
        return failed("Swarm.Managers", managers)
    return passed("Swarm.Managers", managers)


def encrypted(network: dict[str, Any]) -> bool:
    options = network.get("Options")
    return isinstance(options, dict) and ENCRYPTED in options


def overlay_networks(h: HostFacts) -> list[dict[str, Any]]:
    return [n for n in h.networks if isinstance(n, dict) and n.get("Driver") == "overlay"]


@rule(
    id="DMN-SWARM-OVERLAY-ENCRYPTION",
    title="Swarm overlay network traffic not encrypted",
    title_fr="Trafic des réseaux overlay du swarm non chiffré",
    severity=Severity.MEDIUM,
    scope=Scope.DAEMON,
    rationale=(
        "Overlay networks carry container traffic between nodes in clear VXLAN unless "
        "created with the encrypted option; anyone on the network between nodes can read it."
    ),
    rationale_fr=(
        "Les réseaux overlay transportent le trafic des conteneurs entre nœuds en VXLAN en "
        "clair, sauf création avec l'option encrypted ; quiconque est sur le réseau entre "
        "les nœuds peut le lire."
    ),
    remediation=Remediation(
        en="Recreate each overlay network with --opt encrypted and move the services to it.",
        fr=("Recréez chaque réseau overlay avec --opt encrypted et déplacez-y les services."),
        docker_run="docker network create --driver overlay --opt encrypted app-net",
    ),
    owasp=(5,),
    cis=("7.3",),
    cis_v18=("7.3",),
    cis_level=1,
    decided_by="Driver and Options[encrypted] of each network in GET /networks (on a manager)",
)
def overlay_encryption(h: HostFacts) -> Result:
    skip = not_a_manager(h)
    if skip is not None:
        return skip
    if not h.networks:
        return unknown("the network list (GET /networks) was not collected")
    overlays = overlay_networks(h)
    clear = sorted(str(n.get("Name")) for n in overlays if not encrypted(n))
    if clear:
        return failed("networks[Driver=overlay] without Options.encrypted", clear)
    return passed("networks[Driver=overlay]", sorted(str(n.get("Name")) for n in overlays))


@rule(
    id="DMN-SWARM-AUTOLOCK",
    title="Swarm managers not auto-locked",
    title_fr="Managers du swarm sans verrouillage automatique",
    severity=Severity.MEDIUM,
    scope=Scope.DAEMON,
    rationale=(
        "Without auto-lock, the keys that decrypt the Raft logs (and the swarm's secrets) sit "
        "on each manager's disk: a stolen disk or backup reveals every secret."
    ),
    rationale_fr=(
        "Sans verrouillage automatique, les clés qui déchiffrent les journaux Raft (et les "
        "secrets du swarm) sont sur le disque de chaque manager : un disque ou une sauvegarde "
        "dérobé révèle tous les secrets."
    ),
    remediation=Remediation(
        en=(
            "Enable auto-lock and keep the unlock key in a password manager; managers then "
            "need it after every restart."
        ),
        fr=(
            "Activez le verrouillage automatique et conservez la clé de déverrouillage dans "
            "un gestionnaire de mots de passe ; les managers la demandent après chaque "
            "redémarrage."
        ),
        docker_run="docker swarm update --autolock=true",
    ),
    owasp=(12,),
    cis=("7.5",),
    cis_v18=("7.5",),
    cis_level=1,
    decided_by="Swarm.Cluster.Spec.EncryptionConfig.AutoLockManagers from GET /info (on a manager)",
)
def autolock(h: HostFacts) -> Result:
    skip = not_a_manager(h)
    if skip is not None:
        return skip
    path = "Swarm.Cluster.Spec.EncryptionConfig.AutoLockManagers"
    locked = flag(h.info, path)
    if isinstance(locked, Result):
        return locked
    return passed(path, True) if locked else failed(path, False)

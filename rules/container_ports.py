"""Container rules on published ports and networks (CIS 5.8, 5.9, 5.14, 5.30; OWASP cheat
sheet rule 5, and its rule 5a: a published port bypasses the host's firewall, because
Docker inserts its own NAT rules ahead of the host's INPUT chain).

Read from HostConfig.PortBindings (what was asked for at create, kept while the container
is stopped) and NetworkSettings.Networks in GET /containers/{id}/json.
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
from rules.engines import default_network
from rules.facts import ContainerFacts
from rules.fields import flag, text

PRIVILEGED_PORT_LIMIT = 1024
ALL_INTERFACES = {"", "0.0.0.0", "::", "[::]"}
PORTS = "HostConfig.PortBindings"


def bindings(c: ContainerFacts) -> list[tuple[str, str, str]] | Result:
    """[(container port, host IP, host port)] for every published port."""
    value = dig(c.inspect, PORTS)
    if value is None or value == {}:
        return []
    if not isinstance(value, dict):
        return unknown(f"{PORTS} is absent from the data the daemon returned")
    found = []
    for port, entries in value.items():
        if entries is not None and not isinstance(entries, list):
            return unknown(f"{PORTS}[{port}] is not a list of bindings")
        for entry in entries or []:
            if isinstance(entry, dict):
                found.append(
                    (str(port), str(entry.get("HostIp") or ""), str(entry.get("HostPort") or ""))
                )
    return found


def host_network(c: ContainerFacts) -> bool:
    return str(dig(c.inspect, "HostConfig.NetworkMode", "")).lower() == "host"


def shown(found: list[tuple[str, str, str]]) -> list[str]:
    return [f"{ip or '0.0.0.0'}:{host_port or '<random>'}->{port}" for port, ip, host_port in found]


@rule(
    id="CTR-PRIVILEGED-PORTS",
    title="Privileged host port published",
    title_fr="Port privilégié de l'hôte publié",
    severity=Severity.LOW,
    scope=Scope.CONTAINER,
    rationale=(
        "Ports below 1024 are reserved for services the host's administrator runs; "
        "publishing a container on one lets it pose as such a service (SSH, DNS, SMTP...)."
    ),
    rationale_fr=(
        "Les ports inférieurs à 1024 sont réservés aux services de l'administrateur de "
        "l'hôte ; y publier un conteneur lui permet de se faire passer pour l'un d'eux "
        "(SSH, DNS, SMTP...)."
    ),
    remediation=Remediation(
        en=(
            "Publish the container on a host port of 1024 or above, and put a reverse proxy "
            "in front where a well-known port is required."
        ),
        fr=(
            "Publiez le conteneur sur un port de l'hôte supérieur ou égal à 1024, et placez "
            "un proxy inverse devant lorsqu'un port standard est exigé."
        ),
        docker_run="-p 127.0.0.1:8080:80",
        compose='ports: ["127.0.0.1:8080:80"]',
    ),
    owasp=(5,),
    cis=("5.8",),
    cis_v18=("5.8",),
    cis_level=1,
    decided_by="HostConfig.PortBindings[].HostPort from GET /containers/{id}/json",
)
def privileged_ports(c: ContainerFacts) -> Result:
    if host_network(c):
        return not_applicable("--network host publishes nothing; CTR-HOST-NETWORK reports it")
    found = bindings(c)
    if isinstance(found, Result):
        return found
    low = [b for b in found if b[2].isdigit() and 0 < int(b[2]) < PRIVILEGED_PORT_LIMIT]
    return failed(PORTS, shown(low)) if low else passed(PORTS, shown(found))


@rule(
    id="CTR-PORT-ALL-INTERFACES",
    title="Port published on every host interface",
    title_fr="Port publié sur toutes les interfaces de l'hôte",
    severity=Severity.MEDIUM,
    scope=Scope.CONTAINER,
    rationale=(
        "-p 8080:80 listens on every interface, public ones included, and Docker's NAT "
        "rules take the traffic before the host firewall (ufw, firewalld) sees it: a port "
        "meant for localhost or a private network is open to the world (cheat sheet rule 5a)."
    ),
    rationale_fr=(
        "-p 8080:80 écoute sur toutes les interfaces, publiques comprises, et les règles NAT "
        "de Docker prennent le trafic avant que le pare-feu de l'hôte (ufw, firewalld) ne le "
        "voie : un port prévu pour localhost ou un réseau privé est ouvert à tous (règle 5a "
        "de l'aide-mémoire)."
    ),
    remediation=Remediation(
        en=(
            "Bind each published port to the one address that should receive the traffic "
            "(127.0.0.1 behind a local proxy, or a private interface), or filter it in the "
            "DOCKER-USER chain."
        ),
        fr=(
            "Liez chaque port publié à la seule adresse qui doit recevoir le trafic "
            "(127.0.0.1 derrière un proxy local, ou une interface privée), ou filtrez-le dans "
            "la chaîne DOCKER-USER."
        ),
        docker_run="-p 127.0.0.1:8080:80",
        compose='ports: ["127.0.0.1:8080:80"]',
        daemon_json='{"ip": "127.0.0.1"}',
    ),
    # "5a": the cheat sheet's published-ports-bypass-the-firewall rule (the catalogue
    # export sorts it after 5); Rule.owasp is typed for ints only, hence the ignore.
    owasp=(5, "5a"),
    cis=("5.14",),
    cis_v18=("5.14",),
    cis_level=1,
    decided_by="HostConfig.PortBindings[].HostIp from GET /containers/{id}/json",
)
def all_interfaces(c: ContainerFacts) -> Result:
    if host_network(c):
        return not_applicable("--network host publishes nothing; CTR-HOST-NETWORK reports it")
    found = bindings(c)
    if isinstance(found, Result):
        return found
    # An empty HostIp is the daemon's default address, 0.0.0.0 unless "ip" is set in
    # daemon.json, which the API does not show: read as every interface, as Docker ships.
    wide = [b for b in found if b[1] in ALL_INTERFACES]
    return failed(PORTS, shown(wide)) if wide else passed(PORTS, shown(found))


@rule(
    id="CTR-PUBLISH-ALL",
    title="Every exposed port published",
    title_fr="Tous les ports exposés sont publiés",
    severity=Severity.LOW,
    scope=Scope.CONTAINER,
    rationale=(
        "-P publishes every port the image EXPOSEs, including debug and admin ports the "
        "service never meant to offer; published ports should be chosen one by one."
    ),
    rationale_fr=(
        "-P publie chaque port que l'image déclare par EXPOSE, y compris des ports de "
        "débogage ou d'administration que le service n'entendait pas offrir ; les ports "
        "publiés doivent être choisis un par un."
    ),
    remediation=Remediation(
        en="Drop -P (--publish-all) and publish only the ports the service must offer.",
        fr=("Retirez -P (--publish-all) et ne publiez que les ports que le service doit offrir."),
        docker_run="-p 127.0.0.1:8080:8080",
        compose='ports: ["127.0.0.1:8080:8080"]',
    ),
    owasp=(5,),
    cis=("5.9",),
    cis_v18=("5.9",),
    cis_level=1,
    decided_by=(
        "HostConfig.PublishAllPorts and HostConfig.PortBindings from "
        "GET /containers/{id}/json; which ports are needed is a person's call"
    ),
)
def publish_all(c: ContainerFacts) -> Result:
    everything = flag(c.inspect, "HostConfig.PublishAllPorts")
    if isinstance(everything, Result):
        return everything
    if everything:
        return failed("HostConfig.PublishAllPorts", True)
    found = bindings(c)
    if isinstance(found, Result):
        return found
    if not found:
        return passed("HostConfig.PublishAllPorts", False)
    return manual(f"check that each published port is needed: {', '.join(shown(found))}")


@rule(
    id="CTR-DEFAULT-BRIDGE",
    title="Container on the default bridge network",
    title_fr="Conteneur sur le réseau pont par défaut",
    severity=Severity.LOW,
    scope=Scope.CONTAINER,
    rationale=(
        "The default bridge (docker0) puts every container that did not ask for a network on "
        "one segment, with no name resolution and no filtering between them: ARP spoofing "
        "and lateral movement are open to any of them. On Podman the default network is "
        "called podman, and the rule looks for that one."
    ),
    rationale_fr=(
        "Le pont par défaut (docker0) place sur un même segment tous les conteneurs qui "
        "n'ont pas demandé de réseau, sans résolution de noms ni filtrage entre eux : "
        "usurpation ARP et déplacement latéral sont à la portée de chacun. Sous Podman, le "
        "réseau par défaut s'appelle podman : c'est lui que la règle recherche."
    ),
    remediation=Remediation(
        en=(
            "Create a user-defined network per application and attach to it only the "
            "containers that must talk to each other."
        ),
        fr=(
            "Créez un réseau défini par l'utilisateur par application et n'y rattachez que "
            "les conteneurs qui doivent communiquer."
        ),
        docker_run="docker network create app-net && docker run --network app-net ...",
        compose="networks: [app-net]",
    ),
    owasp=(5,),
    cis=("5.30",),
    cis_v18=("5.30",),
    cis_level=2,
    decided_by=(
        "NetworkSettings.Networks (keys: bridge, or podman on Podman) and "
        "HostConfig.NetworkMode from GET /containers/{id}/json"
    ),
)
def default_bridge(c: ContainerFacts) -> Result:
    networks = dig(c.inspect, "NetworkSettings.Networks")
    if isinstance(networks, dict):
        names = sorted(str(n) for n in networks)
        field = "NetworkSettings.Networks"
        on_default = default_network(c.host) in names
        return failed(field, names) if on_default else passed(field, names)
    mode = text(c.inspect, "HostConfig.NetworkMode")
    if isinstance(mode, Result):
        return mode
    on_bridge = mode in ("", "default", "bridge")
    return (
        failed("HostConfig.NetworkMode", mode)
        if on_bridge
        else passed("HostConfig.NetworkMode", mode)
    )

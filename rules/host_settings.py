"""Daemon settings of CIS section 2 that only the host shows: the daemon's command line and
daemon.json, read over SSH (see host_dockerd for how the two are combined).

GET /info reports none of these (a TCP listener, icc, the log level, userland-proxy,
default ulimits, no-new-privileges), so without SSH each is UNKNOWN with cause no_ssh.
"""

from __future__ import annotations

import json
from typing import Any

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
    unknown,
)
from rules.facts import HostFacts
from rules.host_access import access_of, verdict
from rules.host_dockerd import JSON_KEYS, DaemonConfig, Found, daemon_config

LOCAL_SCHEMES = ("unix://", "fd://", "npipe://")
DECIDED_BY = "the daemon's command line (/proc/<pid>/cmdline) and daemon.json over SSH"


def config_of(h: HostFacts) -> DaemonConfig | Result:
    access = access_of(h)
    return access if isinstance(access, Result) else daemon_config(h)


def shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def evidence(found: Found) -> Evidence:
    return Evidence(found.source, shown(found.value))


def default_evidence(flag: str, default: str) -> Evidence:
    return Evidence(f"--{flag} / daemon.json {JSON_KEYS.get(flag, flag)}", f"not set ({default})")


def boolean(h: HostFacts, flag: str, *, want: bool, default: bool) -> Result:
    """PASS when the setting (or, unset, its default) is `want`."""
    config = config_of(h)
    if isinstance(config, Result):
        return config
    setting = config.lookup(flag)
    if isinstance(setting, Result):
        return setting
    if setting is None:
        value, proof = default, default_evidence(flag, f"default {str(default).lower()}")
    else:
        value, proof = setting.value, evidence(setting)
    if not isinstance(value, bool):
        return unknown(f"{proof.field} is not true or false")
    return verdict(Outcome.PASS if value is want else Outcome.FAIL, proof)


@rule(
    id="DMN-TCP-TLS",
    title="Daemon listens on TCP without TLS client authentication",
    title_fr="Le démon écoute en TCP sans authentification TLS des clients",
    severity=Severity.CRITICAL,
    scope=Scope.DAEMON,
    rationale=(
        "Anyone who reaches a TCP listener without --tlsverify controls the daemon, and so "
        "has root on the host: scanners find open port 2375 within minutes."
    ),
    rationale_fr=(
        "Quiconque atteint un port TCP sans --tlsverify contrôle le démon, donc a root sur "
        "l'hôte : les robots d'analyse trouvent un port 2375 ouvert en quelques minutes."
    ),
    remediation=Remediation(
        en=(
            'Remove tcp:// from "hosts" (and -H) and reach the daemon over SSH, or set '
            '"tlsverify": true with tlscacert, tlscert and tlskey so only clients holding a '
            "certificate from your CA are accepted."
        ),
        fr=(
            'Retirez tcp:// de "hosts" (et de -H) et joignez le démon par SSH, ou réglez '
            '"tlsverify": true avec tlscacert, tlscert et tlskey pour n\'accepter que les '
            "clients munis d'un certificat de votre AC."
        ),
        daemon_json=(
            '{"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"], '
            '"tlsverify": true, "tlscacert": "/etc/docker/tls/ca.pem", '
            '"tlscert": "/etc/docker/tls/server.pem", "tlskey": "/etc/docker/tls/server-key.pem"}'
        ),
    ),
    owasp=(1,),
    cis=("2.7",),
    cis_v18=("2.8",),
    cis_level=1,
    source=Source.SSH,
    decided_by=DECIDED_BY + ": hosts / -H and tlsverify",
)
def tcp_without_tls(h: HostFacts) -> Result:
    config = config_of(h)
    if isinstance(config, Result):
        return config
    hosts = config.lookup_all("host")
    if isinstance(hosts, Result):
        return hosts
    tcp = [f for f in hosts if not str(f.value).startswith(LOCAL_SCHEMES)]
    if not tcp:
        if config.gaps:
            return config.gaps[0]  # a listener may hide in the unknown source
        shown_hosts = [evidence(f) for f in hosts] or [default_evidence("host", "unix socket")]
        return verdict(Outcome.PASS, *shown_hosts)
    verify = config.lookup("tlsverify")
    if isinstance(verify, Result):
        return verify
    if verify is not None and verify.value is True:
        return verdict(Outcome.PASS, *(evidence(f) for f in tcp), evidence(verify))
    proof = evidence(verify) if verify is not None else default_evidence("tlsverify", "false")
    return verdict(Outcome.FAIL, *(evidence(f) for f in tcp), proof)


@rule(
    id="DMN-LOG-LEVEL",
    title="Daemon log level is not info",
    title_fr="Le niveau de journalisation du démon n'est pas info",
    severity=Severity.LOW,
    scope=Scope.DAEMON,
    rationale=(
        "At debug the daemon logs request details that should not be kept and buries the "
        "events worth reviewing; above info (warn, error) it drops them."
    ),
    rationale_fr=(
        "En debug, le démon journalise des détails de requêtes à ne pas conserver et noie "
        "les événements utiles ; au-dessus d'info (warn, error), il les perd."
    ),
    remediation=Remediation(
        en='Set "log-level": "info" in daemon.json, drop "debug": true, -D and --log-level.',
        fr='Réglez "log-level": "info" dans daemon.json, retirez "debug": true, -D et --log-level.',
        daemon_json='{"log-level": "info"}',
    ),
    owasp=(10,),
    cis=("2.3",),
    cis_v18=("2.3",),
    cis_level=1,
    source=Source.SSH,
    decided_by=DECIDED_BY + ": log-level / -l and debug / -D",
)
def log_level(h: HostFacts) -> Result:
    config = config_of(h)
    if isinstance(config, Result):
        return config
    level, debug = config.lookup("log-level"), config.lookup("debug")
    wrong = [
        evidence(s)
        for s, bad in ((level, lambda v: str(v).lower() != "info"), (debug, lambda v: v is True))
        if isinstance(s, Found) and bad(s.value)
    ]
    if wrong:
        return verdict(Outcome.FAIL, *wrong)
    for setting in (level, debug):
        if isinstance(setting, Result):
            return setting
    return verdict(
        Outcome.PASS,
        evidence(level) if isinstance(level, Found) else default_evidence("log-level", "info"),
    )


@rule(
    id="DMN-ICC-CONFIG",
    title="Inter-container communication enabled in the daemon configuration",
    title_fr="Communication inter-conteneurs activée dans la configuration du démon",
    severity=Severity.LOW,
    scope=Scope.DAEMON,
    rationale=(
        "With icc on (the default), every container on the default bridge reaches every "
        "other one on any port, so one compromised container can probe all the others."
    ),
    rationale_fr=(
        "Avec icc actif (par défaut), chaque conteneur du pont par défaut joint tous les "
        "autres sur tous les ports : un conteneur compromis peut sonder tous les autres."
    ),
    remediation=Remediation(
        en='Set "icc": false in daemon.json (or --icc=false) and link containers through '
        "user-defined networks.",
        fr='Réglez "icc": false dans daemon.json (ou --icc=false) et reliez les conteneurs '
        "par des réseaux définis par l'utilisateur.",
        daemon_json='{"icc": false}',
    ),
    owasp=(5,),
    cis=("2.2",),
    cis_v18=("2.2",),
    cis_level=1,
    source=Source.SSH,
    decided_by=DECIDED_BY + ": icc / --icc, bridge / --bridge",
)
def icc_config(h: HostFacts) -> Result:
    config = config_of(h)
    if isinstance(config, Result):
        return config
    bridge = config.lookup("bridge")
    if isinstance(bridge, Found) and bridge.value == "none":
        return not_applicable(f"the daemon has no default bridge ({bridge.source} = none)")
    return boolean(h, "icc", want=False, default=True)


@rule(
    id="DMN-IPTABLES",
    title="Docker may not manage iptables",
    title_fr="Docker ne peut pas gérer iptables",
    severity=Severity.LOW,
    scope=Scope.DAEMON,
    rationale=(
        "With iptables off, published ports and network isolation rest on rules written by "
        "hand, which drift from what the containers need and often end up too open."
    ),
    rationale_fr=(
        "Sans iptables, ports publiés et isolation réseau reposent sur des règles écrites à "
        "la main, qui divergent des besoins des conteneurs et finissent souvent trop ouvertes."
    ),
    remediation=Remediation(
        en='Remove "iptables": false (and --iptables=false) so the daemon manages its rules.',
        fr='Retirez "iptables": false (et --iptables=false) pour que le démon gère ses règles.',
        daemon_json='{"iptables": true}',
    ),
    cis=("2.4",),
    cis_v18=("2.4",),
    cis_level=1,
    source=Source.SSH,
    decided_by=DECIDED_BY + ": iptables / --iptables",
)
def iptables(h: HostFacts) -> Result:
    return boolean(h, "iptables", want=True, default=True)


@rule(
    id="DMN-DEFAULT-ULIMIT",
    title="No default ulimits for containers",
    title_fr="Aucune limite ulimit par défaut pour les conteneurs",
    severity=Severity.LOW,
    scope=Scope.DAEMON,
    rationale=(
        "Without default ulimits a container inherits the daemon's limits, so one fork bomb "
        "or file-descriptor leak can exhaust the host for every other container."
    ),
    rationale_fr=(
        "Sans ulimit par défaut, un conteneur hérite des limites du démon : une bombe fork ou "
        "une fuite de descripteurs peut épuiser l'hôte pour tous les autres conteneurs."
    ),
    remediation=Remediation(
        en='Set "default-ulimits" in daemon.json (for example nofile and nproc) sized for '
        "your workloads; containers that need more override them at run time.",
        fr='Définissez "default-ulimits" dans daemon.json (par exemple nofile et nproc) selon '
        "vos charges ; les conteneurs qui ont besoin de plus les surchargent au lancement.",
        daemon_json='{"default-ulimits": {"nofile": {"Name": "nofile", "Soft": 64000, '
        '"Hard": 64000}}}',
    ),
    owasp=(7,),
    cis=("2.8",),
    cis_v18=("2.9",),
    cis_level=1,
    source=Source.SSH,
    decided_by=DECIDED_BY + ": default-ulimits / --default-ulimit",
)
def default_ulimit(h: HostFacts) -> Result:
    config = config_of(h)
    if isinstance(config, Result):
        return config
    setting = config.lookup("default-ulimit")
    if isinstance(setting, Result):
        return setting
    if setting is None or setting.value in ({}, [], ""):
        return verdict(Outcome.FAIL, default_evidence("default-ulimit", "no limit"))
    return verdict(Outcome.PASS, evidence(setting))


@rule(
    id="DMN-NNP-CONFIG",
    title="Containers may gain new privileges by default",
    title_fr="Les conteneurs peuvent acquérir de nouveaux privilèges par défaut",
    severity=Severity.MEDIUM,
    scope=Scope.DAEMON,
    rationale=(
        "Without no-new-privileges as the daemon default, a setuid binary in any container "
        "that does not opt out lets a process raise its privileges."
    ),
    rationale_fr=(
        "Sans no-new-privileges par défaut, un binaire setuid dans tout conteneur qui ne s'en "
        "protège pas permet à un processus d'élever ses privilèges."
    ),
    remediation=Remediation(
        en='Set "no-new-privileges": true in daemon.json (or --no-new-privileges).',
        fr='Réglez "no-new-privileges": true dans daemon.json (ou --no-new-privileges).',
        daemon_json='{"no-new-privileges": true}',
    ),
    owasp=(4,),
    cis=("2.14",),
    cis_v18=("2.15",),
    cis_level=1,
    source=Source.SSH,
    decided_by=DECIDED_BY + ": no-new-privileges / --no-new-privileges",
)
def no_new_privileges(h: HostFacts) -> Result:
    return boolean(h, "no-new-privileges", want=True, default=False)


@rule(
    id="DMN-USERLAND-PROXY",
    title="Userland proxy enabled",
    title_fr="Proxy en espace utilisateur activé",
    severity=Severity.LOW,
    scope=Scope.DAEMON,
    rationale=(
        "The userland proxy runs a docker-proxy process per published port: more code "
        "exposed to the network, where the kernel's hairpin NAT does the same job."
    ),
    rationale_fr=(
        "Le proxy en espace utilisateur lance un processus docker-proxy par port publié : "
        "plus de code exposé au réseau, là où le NAT en épingle du noyau suffit."
    ),
    remediation=Remediation(
        en='Set "userland-proxy": false in daemon.json (or --userland-proxy=false).',
        fr='Réglez "userland-proxy": false dans daemon.json (ou --userland-proxy=false).',
        daemon_json='{"userland-proxy": false}',
    ),
    cis=("2.16",),
    cis_v18=("2.17",),
    cis_level=1,
    source=Source.SSH,
    decided_by=DECIDED_BY + ": userland-proxy / --userland-proxy",
)
def userland_proxy(h: HostFacts) -> Result:
    return boolean(h, "userland-proxy", want=False, default=True)

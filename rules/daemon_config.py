"""More daemon configuration rules from GET /info: logging driver, storage driver, the
daemon-wide no-new-privileges default and swarm mode (CIS 2.6, 2.13, 2.14, 5.1; OWASP cheat
sheet rules 4 and 10).

Podman's compat /info reports neither its logging driver (always "") nor its
no-new-privileges default: both live in containers.conf, so those rules are NOT_APPLICABLE
with Cause.NOT_SUPPORTED there.
"""

from __future__ import annotations

from rules.base import (
    Outcome,
    Remediation,
    Result,
    Scope,
    Severity,
    dig,
    failed,
    manual,
    passed,
    rule,
    unknown,
)
from rules.daemon_versions import engine_version, parse_version
from rules.engines import is_podman, not_supported
from rules.facts import HostFacts
from rules.fields import daemon_security_options, text

# Drivers that ship logs off the host as they are written.
REMOTE_LOG_DRIVERS = frozenset(
    {"syslog", "gelf", "fluentd", "awslogs", "splunk", "gcplogs", "logentries", "etwlogs"}
)
LOCAL_LOG_DRIVERS = frozenset({"json-file", "local", "none"})
DEPRECATED_STORAGE = {"aufs": "2.6", "devicemapper": "2.7 (v1.8.0)"}
# moby PR 45320 (April 2023) added "name=no-new-privileges" to /info; Engines from 25 have
# it for certain, so its absence there means the default is off. Older ones cannot say.
NNP_REPORTED_FROM = 25


@rule(
    id="DMN-LOG-DRIVER",
    title="Container logs are not shipped off the host",
    title_fr="Les journaux des conteneurs ne quittent pas l'hôte",
    severity=Severity.LOW,
    scope=Scope.DAEMON,
    rationale=(
        "With the default json-file driver, container logs live only on the host: an "
        "intruder who gets root there can erase the trace, and a lost host takes its logs "
        "with it. Podman's API does not report its default (containers.conf log_driver), "
        "so the rule does not apply there."
    ),
    rationale_fr=(
        "Avec le pilote json-file par défaut, les journaux des conteneurs ne sont que sur "
        "l'hôte : un intrus devenu root peut effacer ses traces, et un hôte perdu emporte "
        "ses journaux. L'API de Podman n'indique pas son pilote par défaut (log_driver "
        "dans containers.conf) : la règle ne s'y applique pas."
    ),
    remediation=Remediation(
        en=(
            "Set a logging driver that forwards to your central log service (syslog, gelf, "
            "fluentd, awslogs, splunk...), or run a collector that ships the local files."
        ),
        fr=(
            "Choisissez un pilote qui transmet à votre service central de journaux (syslog, "
            "gelf, fluentd, awslogs, splunk...), ou utilisez un collecteur qui expédie les "
            "fichiers locaux."
        ),
        daemon_json=(
            '{"log-driver": "syslog", "log-opts": {"syslog-address": "tcp://logs.example:514"}}'
        ),
    ),
    owasp=(10,),
    cis=("2.13",),
    cis_v18=("2.14",),
    cis_level=2,
    decided_by=(
        "LoggingDriver from GET /info (the daemon default; a per-container --log-driver is "
        "not read)"
    ),
)
def log_driver(h: HostFacts) -> Result:
    if is_podman(h):  # its compat /info always sends LoggingDriver ""
        return not_supported("logging driver reported in GET /info")
    driver = text(h.info, "LoggingDriver")
    if isinstance(driver, Result):
        return driver
    if driver in REMOTE_LOG_DRIVERS:
        return passed("LoggingDriver", driver)
    if driver in LOCAL_LOG_DRIVERS:
        return failed("LoggingDriver", driver)
    # journald keeps logs on the host unless the journal is forwarded; plugins are unknown.
    return manual(f"check that the {driver!r} logging driver forwards logs off the host")


@rule(
    id="DMN-STORAGE-DRIVER",
    title="Deprecated storage driver in use",
    title_fr="Pilote de stockage obsolète utilisé",
    severity=Severity.MEDIUM,
    scope=Scope.DAEMON,
    rationale=(
        "aufs and devicemapper are unmaintained and removed from current Engines; they had "
        "kernel bugs that crossed container boundaries and receive no more fixes."
    ),
    rationale_fr=(
        "aufs et devicemapper ne sont plus maintenus et ont disparu des versions actuelles "
        "du moteur ; ils ont connu des bogues noyau franchissant la frontière des conteneurs "
        "et ne reçoivent plus de correctifs."
    ),
    remediation=Remediation(
        en=(
            "Move to overlay2: export what must be kept, set the storage driver, restart "
            "the daemon and pull or rebuild the images."
        ),
        fr=(
            "Passez à overlay2 : exportez ce qui doit être conservé, changez le pilote de "
            "stockage, redémarrez le démon puis retirez ou reconstruisez les images."
        ),
        daemon_json='{"storage-driver": "overlay2"}',
    ),
    cis=("2.6",),
    cis_v18=("2.6", "2.7"),
    cis_level=1,
    decided_by="Driver from GET /info",
)
def storage_driver(h: HostFacts) -> Result:
    driver = text(h.info, "Driver")
    if isinstance(driver, Result):
        return driver
    if not driver:
        return unknown("the daemon reports no storage driver")
    return failed("Driver", driver) if driver in DEPRECATED_STORAGE else passed("Driver", driver)


@rule(
    id="DMN-NO-NEW-PRIVILEGES-API",
    title="no-new-privileges not the daemon default",
    title_fr="no-new-privileges n'est pas la valeur par défaut du démon",
    severity=Severity.MEDIUM,
    scope=Scope.DAEMON,
    rationale=(
        "Set daemon-wide, no-new-privileges applies to every container, including those "
        "started by tools that do not pass --security-opt: setuid binaries can no longer "
        "raise privileges. Podman's API does not report its default (containers.conf "
        "no_new_privileges), so the rule does not apply there."
    ),
    rationale_fr=(
        "Réglé pour tout le démon, no-new-privileges s'applique à chaque conteneur, y "
        "compris ceux lancés par des outils qui ne passent pas --security-opt : les binaires "
        "setuid ne peuvent plus élever les privilèges. L'API de Podman n'indique pas sa "
        "valeur par défaut (no_new_privileges dans containers.conf) : la règle ne s'y "
        "applique pas."
    ),
    remediation=Remediation(
        en='Set "no-new-privileges": true in daemon.json and restart the daemon.',
        fr='Ajoutez "no-new-privileges": true dans daemon.json et redémarrez le démon.',
        daemon_json='{"no-new-privileges": true}',
    ),
    owasp=(4,),
    cis=("2.14",),
    cis_v18=("2.15",),
    cis_level=1,
    decided_by=(
        "SecurityOptions (name=no-new-privileges) from GET /info, and the Engine version from "
        "GET /version: Engines before 25 do not report the setting, so there daemon.json and "
        "the dockerd command line decide when the host's files were read"
    ),
)
def daemon_no_new_privileges(h: HostFacts) -> Result:
    # The API view of CIS 2.14; DMN-NO-NEW-PRIVILEGES (host_settings) reads daemon.json and
    # the command line over SSH, which also covers Engines that do not report it here.
    parsed = daemon_security_options(h.info)
    if isinstance(parsed, Result):
        return parsed
    raw = dig(h.info, "SecurityOptions")
    if "no-new-privileges" in parsed:
        return passed("SecurityOptions", raw)
    if is_podman(h):  # Podman's version is not Docker Engine's: NNP_REPORTED_FROM is moot
        return not_supported("no-new-privileges default reported in GET /info")
    read = engine_version(h)
    parsed_version = None if isinstance(read, Result) else parse_version(read[1], read[2])
    if isinstance(read, Result) or parsed_version is None:
        return unknown("the Engine version is unknown, so the setting's absence proves nothing")
    if parsed_version[0][0] < NNP_REPORTED_FROM:
        if h.host is not None:
            # The host's files were read (SSH or locally): its daemon.json and dockerd
            # command line say what this Engine's /info does not. Imported here so that
            # host_settings' rules keep their place in the catalogue's registration order.
            from rules.host_settings import boolean

            found = boolean(h, "no-new-privileges", want=True, default=False)
            if found.outcome in (Outcome.PASS, Outcome.FAIL):
                return found
        return unknown(
            f"Engine {read[1]} does not report a daemon-wide no-new-privileges in /info (it "
            "does from Engine 25): check daemon.json or the dockerd command line"
        )
    return failed("SecurityOptions", raw)


@rule(
    id="DMN-SWARM-MODE",
    title="Swarm mode enabled",
    title_fr="Mode swarm activé",
    severity=Severity.LOW,
    scope=Scope.DAEMON,
    rationale=(
        "Swarm mode opens management and gossip ports (2377, 7946, 4789) and keeps cluster "
        "secrets on the node; a host that is not meant to be in a swarm should not run it."
    ),
    rationale_fr=(
        "Le mode swarm ouvre des ports de gestion et de communication (2377, 7946, 4789) et "
        "conserve des secrets de cluster sur le nœud ; un hôte qui n'a pas vocation à faire "
        "partie d'un swarm ne doit pas l'activer."
    ),
    remediation=Remediation(
        en="If this host does not need to be in a swarm, leave it: docker swarm leave.",
        fr="Si cet hôte n'a pas besoin d'être dans un swarm, retirez-le : docker swarm leave.",
    ),
    cis=("5.1",),
    cis_v18=("5.1",),
    cis_level=1,
    decided_by=(
        "Swarm.LocalNodeState from GET /info; whether the swarm is needed is a person's call"
    ),
)
def swarm_mode(h: HostFacts) -> Result:
    state = text(h.info, "Swarm.LocalNodeState")
    if isinstance(state, Result):
        return state
    if state in ("", "inactive"):
        return passed("Swarm.LocalNodeState", state)
    return manual(f"swarm mode is {state}: confirm that this host must be part of a swarm")

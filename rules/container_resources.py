"""Container rules on resource limits: memory, CPU, processes and restarts
(OWASP cheat sheet rule 7: limiting resources is the way to contain a DoS).

A limit counts only where the engine applies it: rootless dockerd without cgroup v2 and
systemd (/info CgroupDriver "none") records --memory, --cpus and --pids-limit in HostConfig
and enforces none of them, so there a recorded limit fails with CgroupDriver as evidence.
"""

from __future__ import annotations

from rules.base import Remediation, Result, Scope, Severity, dig, failed, passed, rule, unknown
from rules.engines import resource_limits_enforced
from rules.facts import ContainerFacts
from rules.fields import number, text

DEFAULT_CPU_SHARES = 1024  # 0 in inspect means "not set", which the kernel runs as 1024
MAX_RESTARTS = 5  # CIS 5.15
UNENFORCED = (
    "A limit recorded by an engine without cgroups (rootless dockerd with CgroupDriver none) "
    "is not applied, so it fails."
)
UNENFORCED_FR = (
    "Une limite enregistrée par un moteur sans cgroups (dockerd sans racine avec "
    "CgroupDriver none) n'est pas appliquée : elle échoue."
)


def limited(c: ContainerFacts, path: str, value: object) -> Result:
    """PASS on a limit, unless the engine records limits it cannot apply."""
    if c.host is not None and resource_limits_enforced(c.host) is False:
        return failed("CgroupDriver", dig(c.host.info, "CgroupDriver"), (path, value))
    return passed(path, value)


@rule(
    id="CTR-MEMORY-LIMIT",
    title="No memory limit",
    title_fr="Aucune limite de mémoire",
    severity=Severity.MEDIUM,
    scope=Scope.CONTAINER,
    rationale=(
        "Without a memory limit one container can exhaust the host's memory and get other "
        "containers, or the daemon itself, killed. " + UNENFORCED
    ),
    rationale_fr=(
        "Sans limite de mémoire, un conteneur peut épuiser la mémoire de l'hôte et "
        "provoquer l'arrêt forcé d'autres conteneurs, voire du démon. " + UNENFORCED_FR
    ),
    remediation=Remediation(
        en="Set a memory limit sized from the application's observed peak usage.",
        fr="Fixez une limite de mémoire calibrée sur le pic d'utilisation observé.",
        docker_run="--memory 512m",
        compose="mem_limit: 512m",
        kubernetes="resources.limits.memory: 512Mi",
    ),
    owasp=(7,),
    cis=("5.11",),
    cis_v18=("5.11",),
    cis_level=1,
    decided_by="HostConfig.Memory from GET /containers/{id}/json; CgroupDriver from GET /info",
)
def memory_limit(c: ContainerFacts) -> Result:
    limit = number(c.inspect, "HostConfig.Memory")
    if isinstance(limit, Result):
        return limit
    path = "HostConfig.Memory"
    return limited(c, path, limit) if limit > 0 else failed(path, dig(c.inspect, path))


@rule(
    id="CTR-CPU-LIMIT",
    title="No CPU limit or priority",
    title_fr="Aucune limite ni priorité CPU",
    severity=Severity.LOW,
    scope=Scope.CONTAINER,
    rationale=(
        "Without a CPU quota, cpuset or reduced share, a busy or hijacked container "
        "competes on equal terms with everything else on the host. " + UNENFORCED
    ),
    rationale_fr=(
        "Sans quota CPU, cpuset ni part réduite, un conteneur surchargé ou détourné "
        "concurrence à égalité tout le reste de l'hôte. " + UNENFORCED_FR
    ),
    remediation=Remediation(
        en="Cap the CPU the container may use (--cpus), or lower its relative share.",
        fr="Plafonnez le CPU utilisable par le conteneur (--cpus), ou réduisez sa part relative.",
        docker_run="--cpus 1.5",
        compose="cpus: 1.5",
        kubernetes="resources.limits.cpu: 1500m",
    ),
    owasp=(7,),
    cis=("5.12",),
    cis_v18=("5.12",),
    cis_level=1,
    decided_by=(
        "HostConfig.NanoCpus, CpuQuota, CpuShares and CpusetCpus from GET "
        "/containers/{id}/json; CgroupDriver from GET /info"
    ),
)
def cpu_limit(c: ContainerFacts) -> Result:
    checks = {
        "HostConfig.NanoCpus": lambda v: v > 0,
        "HostConfig.CpuQuota": lambda v: v > 0,
        "HostConfig.CpuShares": lambda v: v not in (0, DEFAULT_CPU_SHARES),
    }
    gaps: list[Result] = []
    for path, limits in checks.items():
        value = number(c.inspect, path)
        if isinstance(value, Result):
            gaps.append(value)
        elif limits(value):
            return limited(c, path, value)
    cpuset = text(c.inspect, "HostConfig.CpusetCpus")
    if isinstance(cpuset, str) and cpuset.strip():
        return limited(c, "HostConfig.CpusetCpus", cpuset)
    if gaps:  # any one unread field might have held the limit
        return gaps[0]
    (first, shown), *rest = [(path, dig(c.inspect, path)) for path in checks]
    return failed(first, shown, *rest)


@rule(
    id="CTR-PIDS-LIMIT",
    title="No process count limit",
    title_fr="Aucune limite du nombre de processus",
    severity=Severity.MEDIUM,
    scope=Scope.CONTAINER,
    rationale=(
        "Without a PIDs limit a fork bomb in one container exhausts the host's process "
        "table and stops everything else from starting processes. " + UNENFORCED
    ),
    rationale_fr=(
        "Sans limite de PID, une bombe fork dans un conteneur épuise la table des "
        "processus de l'hôte et empêche tout le reste d'en créer. " + UNENFORCED_FR
    ),
    remediation=Remediation(
        en="Set --pids-limit to a value comfortably above the application's normal count.",
        fr=(
            "Fixez --pids-limit à une valeur nettement supérieure au nombre habituel de "
            "processus de l'application."
        ),
        docker_run="--pids-limit 200",
        compose="pids_limit: 200",
    ),
    owasp=(7,),
    cis=("5.29",),
    cis_v18=("5.29",),
    cis_level=1,
    decided_by="HostConfig.PidsLimit from GET /containers/{id}/json; CgroupDriver from GET /info",
)
def pids_limit(c: ContainerFacts) -> Result:
    # null, 0 and -1 all mean unlimited in the Engine API.
    limit = number(c.inspect, "HostConfig.PidsLimit")
    if isinstance(limit, Result):
        return limit
    path = "HostConfig.PidsLimit"
    return limited(c, path, limit) if limit > 0 else failed(path, dig(c.inspect, path))


@rule(
    id="CTR-RESTART-POLICY",
    title="Unbounded restart policy",
    title_fr="Politique de redémarrage illimitée",
    severity=Severity.LOW,
    scope=Scope.CONTAINER,
    rationale=(
        "Restarting forever (always, unless-stopped, on-failure without a cap) turns a "
        "crash loop or a deliberate crash into sustained load on the host."
    ),
    rationale_fr=(
        "Redémarrer sans fin (always, unless-stopped, on-failure sans plafond) transforme "
        "une boucle de plantage, voulue ou non, en charge permanente pour l'hôte."
    ),
    remediation=Remediation(
        en=(
            f"Use on-failure with at most {MAX_RESTARTS} retries, and let an orchestrator "
            "or alerting handle what still fails."
        ),
        fr=(
            f"Utilisez on-failure avec au plus {MAX_RESTARTS} tentatives, et laissez un "
            "orchestrateur ou les alertes traiter ce qui échoue encore."
        ),
        docker_run=f"--restart on-failure:{MAX_RESTARTS}",
        compose=f'restart: "on-failure:{MAX_RESTARTS}"',
    ),
    owasp=(7,),
    cis=("5.15",),
    cis_v18=("5.15",),
    cis_level=1,
    decided_by="HostConfig.RestartPolicy (Name, MaximumRetryCount) from GET /containers/{id}/json",
)
def restart_policy(c: ContainerFacts) -> Result:
    name = text(c.inspect, "HostConfig.RestartPolicy.Name")
    if isinstance(name, Result):
        return name
    if name in ("", "no"):
        return passed("HostConfig.RestartPolicy.Name", name)
    if name in ("always", "unless-stopped"):
        return failed("HostConfig.RestartPolicy.Name", name)
    if name != "on-failure":
        return unknown(f"unrecognised restart policy {name!r}")
    retries = number(c.inspect, "HostConfig.RestartPolicy.MaximumRetryCount")
    if isinstance(retries, Result):
        return retries
    evidence = ("HostConfig.RestartPolicy", {"Name": name, "MaximumRetryCount": retries})
    # A count of 0 with on-failure means "retry forever".
    return passed(*evidence) if 0 < retries <= MAX_RESTARTS else failed(*evidence)

"""More container runtime rules from GET /containers/{id}/json: mount propagation, cgroup
parent, runtime health check, SELinux labels (CIS 5.20, 5.25, 5.27, 5.3) and how the image
is referenced (OWASP cheat sheet rule 13: pinned by digest, not a moving tag).
"""

from __future__ import annotations

import re

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
from rules.facts import ContainerFacts
from rules.fields import (
    NO_DAEMON_INFO,
    daemon_options,
    flag,
    records,
    security_options,
    strings,
    text,
)

SHARED = {"shared", "rshared"}
# An image id ("sha256:<64 hex>", or the bare hex) names exact content, as a digest does.
IMAGE_ID = re.compile(r"^(sha256:)?[0-9a-f]{64}$")


@rule(
    id="CTR-MOUNT-PROPAGATION",
    title="Mount propagation set to shared",
    title_fr="Propagation de montage en mode partagé",
    severity=Severity.MEDIUM,
    scope=Scope.CONTAINER,
    rationale=(
        "With shared propagation, mounts the container makes under that path appear on the "
        "host and in every other container sharing it, so one container can change what the "
        "others and the host see."
    ),
    rationale_fr=(
        "Avec une propagation partagée, les montages que le conteneur crée sous ce chemin "
        "apparaissent sur l'hôte et dans tous les conteneurs qui le partagent : un conteneur "
        "peut modifier ce que voient les autres et l'hôte."
    ),
    remediation=Remediation(
        en="Mount the volume with the default private propagation (drop shared / rshared).",
        fr=("Montez le volume avec la propagation privée par défaut (retirez shared / rshared)."),
        docker_run="--mount type=bind,source=/srv/data,target=/data,bind-propagation=rprivate",
        compose="volumes: [{type: bind, source: /srv/data, target: /data}]",
    ),
    cis=("5.20",),
    cis_v18=("5.20",),
    cis_level=1,
    decided_by="Mounts[].Propagation and HostConfig.Binds options from GET /containers/{id}/json",
)
def mount_propagation(c: ContainerFacts) -> Result:
    mounts = records(c.inspect, "Mounts")
    if isinstance(mounts, Result):
        return mounts
    shared = [
        {k: m.get(k) for k in ("Source", "Destination", "Propagation")}
        for m in mounts
        if str(m.get("Propagation", "")).lower() in SHARED
    ]
    binds = strings(c.inspect, "HostConfig.Binds")
    from_binds = [
        b
        for b in (binds if isinstance(binds, list) else [])
        if SHARED & set(b.split(":", 2)[-1].split(",")) and b.count(":") >= 2
    ]
    if shared:
        return failed("Mounts", shared)
    if from_binds:
        return failed("HostConfig.Binds", from_binds)
    return passed()


@rule(
    id="CTR-CGROUP-PARENT",
    title="Container placed under a custom cgroup parent",
    title_fr="Conteneur placé sous un cgroup parent personnalisé",
    severity=Severity.LOW,
    scope=Scope.CONTAINER,
    rationale=(
        "A custom --cgroup-parent moves the container out of the limits the administrator "
        "set for containers; it may be intended, but it must be confirmed."
    ),
    rationale_fr=(
        "Un --cgroup-parent personnalisé sort le conteneur des limites que l'administrateur "
        "a fixées pour les conteneurs ; c'est peut-être voulu, mais cela doit être confirmé."
    ),
    remediation=Remediation(
        en="Remove --cgroup-parent unless the cgroup it names is one you set up on purpose.",
        fr=(
            "Retirez --cgroup-parent, sauf si le cgroup qu'il désigne a été mis en place "
            "volontairement."
        ),
        compose="# remove cgroup_parent",
    ),
    cis=("5.25",),
    cis_v18=("5.25",),
    cis_level=1,
    decided_by="HostConfig.CgroupParent from GET /containers/{id}/json",
)
def cgroup_parent(c: ContainerFacts) -> Result:
    parent = text(c.inspect, "HostConfig.CgroupParent")
    if isinstance(parent, Result):
        return parent
    if not parent:
        return passed("HostConfig.CgroupParent", parent)
    return manual(f"confirm that the cgroup parent {parent!r} is intended")


@rule(
    id="CTR-HEALTHCHECK",
    title="No health check at runtime",
    title_fr="Aucun contrôle de santé à l'exécution",
    severity=Severity.LOW,
    scope=Scope.CONTAINER,
    rationale=(
        "Without a health check the engine reports a hung or hijacked service as running, "
        "and orchestrators keep routing traffic to it."
    ),
    rationale_fr=(
        "Sans contrôle de santé, le moteur déclare en fonctionnement un service bloqué ou "
        "détourné, et les orchestrateurs continuent de lui envoyer du trafic."
    ),
    remediation=Remediation(
        en="Give the container a health check, in the image or at run time.",
        fr="Dotez le conteneur d'un contrôle de santé, dans l'image ou au lancement.",
        docker_run="--health-cmd 'wget -qO- http://localhost:8080/health || exit 1'",
        compose='healthcheck: {test: ["CMD", "wget", "-qO-", "http://localhost:8080/health"]}',
        kubernetes="livenessProbe.httpGet.path: /health",
    ),
    cis=("5.27",),
    cis_v18=("5.27",),
    cis_level=1,
    decided_by=(
        "Config.Healthcheck.Test (the image's HEALTHCHECK merged with run-time options) from "
        "GET /containers/{id}/json"
    ),
)
def runtime_healthcheck(c: ContainerFacts) -> Result:
    config = dig(c.inspect, "Config")
    if not isinstance(config, dict):
        return unknown("Config is absent from the container data")
    check = config.get("Healthcheck")
    test = check.get("Test") if isinstance(check, dict) else None
    if not isinstance(test, list) or not test or test[0] == "NONE":
        return failed("Config.Healthcheck", check)
    # Configured is what CIS 5.27 asks; an "unhealthy" status means the check works.
    return passed("Config.Healthcheck.Test", test)


@rule(
    id="CTR-SELINUX",
    title="SELinux labelling disabled for the container",
    title_fr="Étiquetage SELinux désactivé pour le conteneur",
    severity=Severity.MEDIUM,
    scope=Scope.CONTAINER,
    rationale=(
        "On a daemon with SELinux enabled, label=disable (or --privileged) runs the "
        "container unconfined by SELinux, removing the policy that keeps it off host files."
    ),
    rationale_fr=(
        "Sur un démon où SELinux est actif, label=disable (ou --privileged) exécute le "
        "conteneur hors du confinement SELinux, supprimant la politique qui le tient à "
        "l'écart des fichiers de l'hôte."
    ),
    remediation=Remediation(
        en="Remove label=disable and run the container with its default SELinux label.",
        fr="Retirez label=disable et lancez le conteneur avec son étiquette SELinux par défaut.",
        docker_run="--security-opt label=type:container_t",
        compose='security_opt: ["label=type:container_t"]',
        kubernetes="securityContext.seLinuxOptions.type: container_t",
    ),
    owasp=(6,),
    cis=("5.3",),
    cis_v18=("5.3",),
    cis_level=2,
    decided_by=(
        "HostConfig.SecurityOpt (label=...) and HostConfig.Privileged from "
        "GET /containers/{id}/json; SecurityOptions (name=selinux) from GET /info"
    ),
)
def selinux(c: ContainerFacts) -> Result:
    daemon = daemon_options(c)
    if daemon is None:
        return unknown(NO_DAEMON_INFO)
    if "selinux" not in daemon:
        return not_applicable("the daemon does not run with SELinux enabled")
    opts = strings(c.inspect, "HostConfig.SecurityOpt")
    if isinstance(opts, Result):
        return opts
    label = security_options(opts).get("label", "")
    privileged = flag(c.inspect, "HostConfig.Privileged")
    if label.lower() == "disable" or privileged is True:
        return failed("HostConfig.SecurityOpt", opts, ("HostConfig.Privileged", privileged))
    return passed("HostConfig.SecurityOpt", opts)


def image_reference(c: ContainerFacts) -> str | Result:
    ref = text(c.inspect, "Config.Image")
    if isinstance(ref, Result):
        return ref
    if not ref:
        return unknown("Config.Image is empty")
    return ref


def tag_of(ref: str) -> str:
    """The tag of "registry:5000/repo:tag" ("" when there is none)."""
    name = ref.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.partition(":")[2]


def pinned(ref: str) -> bool:
    return "@sha256:" in ref or bool(IMAGE_ID.match(ref))


@rule(
    id="CTR-IMAGE-NOT-PINNED",
    title="Container image not pinned by digest",
    title_fr="Image du conteneur non épinglée par empreinte",
    severity=Severity.LOW,
    scope=Scope.CONTAINER,
    rationale=(
        "A tag can be moved to other content at any time; a container recreated from "
        "repo:1.2 may run something else than what was reviewed. A digest names exact "
        "content."
    ),
    rationale_fr=(
        "Une étiquette peut être déplacée vers un autre contenu à tout moment ; un conteneur "
        "recréé depuis repo:1.2 peut exécuter autre chose que ce qui a été vérifié. Une "
        "empreinte désigne un contenu exact."
    ),
    remediation=Remediation(
        en=(
            "Deploy by digest (repo:tag@sha256:...), updated by your CI or a bot such as "
            "Renovate when a new release is vetted."
        ),
        fr=(
            "Déployez par empreinte (repo:tag@sha256:...), mise à jour par votre CI ou un "
            "robot comme Renovate lorsqu'une nouvelle version est validée."
        ),
        docker_run="nginx:1.27.2@sha256:<digest>",
        compose="image: nginx:1.27.2@sha256:<digest>",
        kubernetes="image: nginx:1.27.2@sha256:<digest>",
    ),
    owasp=(13,),
    decided_by=(
        "Config.Image (the reference the container was created from) from GET /containers/{id}/json"
    ),
)
def not_pinned(c: ContainerFacts) -> Result:
    ref = image_reference(c)
    if isinstance(ref, Result):
        return ref
    return passed("Config.Image", ref) if pinned(ref) else failed("Config.Image", ref)


@rule(
    id="CTR-IMAGE-LATEST",
    title="Container runs a latest or untagged image",
    title_fr="Le conteneur exécute une image latest ou sans étiquette",
    severity=Severity.LOW,
    scope=Scope.CONTAINER,
    rationale=(
        "'latest' (which an image name without a tag means) says nothing about the version: "
        "two hosts, or the same host after a pull, run different code under the same name."
    ),
    rationale_fr=(
        "« latest » (ce que signifie un nom d'image sans étiquette) n'indique aucune "
        "version : deux hôtes, ou le même après un pull, exécutent un code différent sous le "
        "même nom."
    ),
    remediation=Remediation(
        en="Reference an explicit version tag, or better a digest.",
        fr="Référencez une étiquette de version explicite, ou mieux une empreinte.",
        docker_run="nginx:1.27.2",
        compose="image: nginx:1.27.2",
        kubernetes="image: nginx:1.27.2",
    ),
    owasp=(13,),
    decided_by="Config.Image from GET /containers/{id}/json",
)
def latest_tag(c: ContainerFacts) -> Result:
    ref = image_reference(c)
    if isinstance(ref, Result):
        return ref
    if pinned(ref):
        return passed("Config.Image", ref)
    return (
        failed("Config.Image", ref)
        if tag_of(ref) in ("", "latest")
        else passed("Config.Image", ref)
    )

"""Supply chain rules (OWASP cheat sheet rules 9 and 13; CIS 4.2, 4.4, 4.5, 4.7, 4.8, 4.12).

What the Engine API can show is the image's configuration and build history. What it
cannot show, and is therefore asked of a person once per host (MANUAL) or reported as not
assessable (UNKNOWN): signatures and content trust (verified by clients and registries, not
recorded by the daemon), whether images are scanned in CI, whether base images are trusted.
File modes inside the image (setuid bits) come from the layers' tar headers when the image
is read in deep mode (scans.filemodes); otherwise they are not assessed, saying so.
"""

from __future__ import annotations

import re
from typing import Any

from rules.base import (
    Cause,
    Evidence,
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
from rules.facts import HostFacts, ImageFacts

OCI_SOURCE = "org.opencontainers.image.source"
OCI_REVISION = "org.opencontainers.image.revision"
EVIDENCE_CHARS = 160

# Package installs that leave the package manager's cache in the layer, and the cleanups
# that remove it in the same RUN step.
INSTALLS = {
    "apt": (
        re.compile(r"\bapt(?:-get)?\s+(?:-\S+\s+)*install\b"),
        re.compile(r"/var/lib/apt/lists|apt-get\s+clean"),
    ),
    "apk": (re.compile(r"\bapk\s+(?:-\S+\s+)*add\b"), re.compile(r"--no-cache|/var/cache/apk")),
    "yum": (
        re.compile(r"\b(?:yum|dnf|microdnf)\s+(?:-\S+\s+)*install\b"),
        re.compile(r"\b(?:yum|dnf|microdnf)\s+clean\s+all|/var/cache/(?:yum|dnf)"),
    ),
    "pip": (re.compile(r"\bpip3?\s+install\b"), re.compile(r"--no-cache-dir|PIP_NO_CACHE_DIR")),
}
# CIS 4.7: an update alone in its own RUN step is cached, so later installs use stale lists.
UPDATE = re.compile(r"\b(?:apt-get|apt|apk|yum|dnf)\s+(?:-\S+\s+)*update\b")
INSTALL_ANY = re.compile(r"\b(?:install|add|upgrade)\b")


def run_steps(i: ImageFacts) -> list[tuple[int, str]] | Result:
    if i.history is None:
        return unknown("the image history could not be read")
    if not isinstance(i.history, list) or not i.history:
        return unknown("the image history is empty or not a list of layers")
    steps = []
    for index, layer in enumerate(i.history):
        created_by = layer.get("CreatedBy") if isinstance(layer, dict) else None
        if not isinstance(created_by, str):
            # An unreadable step could be the one at fault: never a pass.
            return unknown("a layer of the image history has no readable step")
        if created_by.strip():
            steps.append((index, created_by.strip()))
    return steps


def shown(steps: list[tuple[int, str]]) -> list[str]:
    return [f"[{index}] {line[:EVIDENCE_CHARS]}" for index, line in steps]


@rule(
    id="IMG-PACKAGE-CACHE",
    title="Package manager cache left in the image",
    title_fr="Cache du gestionnaire de paquets laissé dans l'image",
    severity=Severity.INFO,
    scope=Scope.IMAGE,
    rationale=(
        "Package indexes and downloaded archives left in a layer add size and stale package "
        "metadata that scanners and attackers can both read; they are never needed at run "
        "time."
    ),
    rationale_fr=(
        "Les index et archives de paquets laissés dans une couche ajoutent du volume et des "
        "métadonnées périmées, lisibles par les scanners comme par les attaquants ; ils ne "
        "servent jamais à l'exécution."
    ),
    remediation=Remediation(
        en="Clean the cache in the same RUN step as the install.",
        fr="Nettoyez le cache dans la même étape RUN que l'installation.",
        docker_run=(
            "RUN apt-get update && apt-get install -y --no-install-recommends curl "
            "&& rm -rf /var/lib/apt/lists/*"
        ),
    ),
    owasp=(9,),
    decided_by=(
        "RUN lines in GET /images/{id}/history: an install without its cleanup in the same step"
    ),
)
def package_cache(i: ImageFacts) -> Result:
    steps = run_steps(i)
    if isinstance(steps, Result):
        return steps
    left = [
        (index, line)
        for index, line in steps
        if any(
            install.search(line) and not clean.search(line) for install, clean in INSTALLS.values()
        )
    ]
    return failed("history[].CreatedBy", shown(left)) if left else passed()


@rule(
    id="IMG-UPDATE-ALONE",
    title="Package index update in a RUN step of its own",
    title_fr="Mise à jour de l'index des paquets dans une étape RUN isolée",
    severity=Severity.LOW,
    scope=Scope.IMAGE,
    rationale=(
        "The build cache keeps a lone 'apt-get update' step, so later builds install from "
        "stale package lists and miss security updates."
    ),
    rationale_fr=(
        "Le cache de construction conserve une étape « apt-get update » isolée : les "
        "constructions suivantes installent depuis des listes périmées et manquent des "
        "mises à jour de sécurité."
    ),
    remediation=Remediation(
        en="Run the update and the install in one RUN step.",
        fr="Exécutez la mise à jour et l'installation dans une même étape RUN.",
        docker_run="RUN apt-get update && apt-get install -y --no-install-recommends curl",
    ),
    owasp=(9,),
    cis=("4.7",),
    cis_v18=("4.7",),
    cis_level=1,
    decided_by="RUN lines in GET /images/{id}/history",
)
def update_alone(i: ImageFacts) -> Result:
    steps = run_steps(i)
    if isinstance(steps, Result):
        return steps
    alone = [(n, line) for n, line in steps if UPDATE.search(line) and not INSTALL_ANY.search(line)]
    return failed("history[].CreatedBy", shown(alone)) if alone else passed()


@rule(
    id="IMG-PROVENANCE",
    title="Image does not say where it was built from",
    title_fr="L'image n'indique pas à partir de quoi elle a été construite",
    severity=Severity.INFO,
    scope=Scope.IMAGE,
    rationale=(
        "Without the OCI source and revision labels nobody can trace a running image back to "
        "the commit it was built from, which is the first question of any incident."
    ),
    rationale_fr=(
        "Sans les étiquettes OCI source et revision, personne ne peut relier une image en "
        "fonctionnement au commit dont elle est issue, première question de tout incident."
    ),
    remediation=Remediation(
        en=(
            "Label images at build time with their repository and commit (docker buildx "
            "does it with --provenance; or set the labels in CI)."
        ),
        fr=(
            "Étiquetez les images à la construction avec leur dépôt et leur commit (docker "
            "buildx le fait avec --provenance ; sinon fixez les étiquettes en CI)."
        ),
        docker_run=(
            f"docker build --label {OCI_SOURCE}=https://git.example/app "
            f"--label {OCI_REVISION}=$GIT_SHA ."
        ),
    ),
    owasp=(13,),
    decided_by=f"Config.Labels[{OCI_SOURCE}] and [{OCI_REVISION}] from GET /images/{{id}}/json",
)
def provenance(i: ImageFacts) -> Result:
    config = dig(i.inspect, "Config")
    if not isinstance(config, dict):
        return unknown("Config is absent from the image data")
    labels: Any = config.get("Labels") or {}
    if not isinstance(labels, dict):
        return unknown("Config.Labels is not a map")
    found = {k: labels[k] for k in (OCI_SOURCE, OCI_REVISION) if labels.get(k)}
    if len(found) == 2:
        return passed("Config.Labels", found)
    missing = sorted({OCI_SOURCE, OCI_REVISION} - set(found))
    return failed("Config.Labels (missing)", missing)


@rule(
    id="IMG-SETUID",
    title="setuid or setgid files in the image",
    title_fr="Fichiers setuid ou setgid dans l'image",
    severity=Severity.MEDIUM,
    scope=Scope.IMAGE,
    rationale=(
        "setuid and setgid binaries are the classic way from an unprivileged user to root "
        "inside a container; images should keep only those they need."
    ),
    rationale_fr=(
        "Les binaires setuid et setgid sont la voie classique d'un utilisateur non privilégié "
        "vers root dans un conteneur ; les images ne doivent garder que ceux qui sont utiles."
    ),
    remediation=Remediation(
        en=(
            "Strip the bits in the Dockerfile, and run containers with no-new-privileges so "
            "any that remain cannot raise privileges."
        ),
        fr=(
            "Retirez ces bits dans le Dockerfile, et lancez les conteneurs avec "
            "no-new-privileges pour que ceux qui restent ne puissent élever les privilèges."
        ),
        docker_run="RUN find / -xdev -perm /6000 -type f -exec chmod a-s {} + || true",
    ),
    owasp=(4,),
    cis=("4.8",),
    cis_v18=("4.8",),
    cis_level=2,
    decided_by="the tar headers of every layer of the image, read in deep mode "
    "(GET /images/{id}/get, the stream the vulnerability inventory reads)",
)
def setuid_files(i: ImageFacts) -> Result:
    if i.special_files is None:
        return unknown(
            f"not assessed: {i.modes_reason or 'the image layers were not read'}",
            Cause.DATA_MISSING,
        )
    if not i.special_files:
        return passed("setuid/setgid files in the image's layers", "none")
    evidence = [
        Evidence(f"/{path}", f"mode {mode:04o}, owner {_owner(uid)}:{_owner(gid)}")
        for path, mode, uid, gid in i.special_files[:SPECIAL_SHOWN]
    ]
    if len(i.special_files) > SPECIAL_SHOWN:
        more = len(i.special_files) - SPECIAL_SHOWN
        evidence.append(Evidence("more setuid/setgid files", str(more)))
    return Result(Outcome.FAIL, tuple(evidence))


SPECIAL_SHOWN = 9


def _owner(number: int) -> str:
    return "root" if number == 0 else str(number)


@rule(
    id="DMN-IMAGE-SIGNATURES",
    title="Image signatures and content trust",
    title_fr="Signatures des images et confiance du contenu",
    severity=Severity.MEDIUM,
    scope=Scope.DAEMON,
    rationale=(
        "Signed images, verified before they run, prove who built them and that nothing "
        "changed on the way. The Engine API does not record whether a pulled image was "
        "verified: Docker Content Trust is a client setting, cosign and Notation checks run "
        "in CI or admission."
    ),
    rationale_fr=(
        "Des images signées, vérifiées avant exécution, prouvent qui les a construites et "
        "que rien n'a changé en route. L'API du moteur n'enregistre pas si une image tirée "
        "a été vérifiée : Docker Content Trust est un réglage du client, les vérifications "
        "cosign et Notation ont lieu en CI ou à l'admission."
    ),
    remediation=Remediation(
        en=(
            "Sign images in CI (cosign sign, or Notation) and verify the signature before "
            "deploying; where the Docker CLI pulls directly, export DOCKER_CONTENT_TRUST=1."
        ),
        fr=(
            "Signez les images en CI (cosign sign, ou Notation) et vérifiez la signature "
            "avant de déployer ; là où la CLI Docker tire directement, exportez "
            "DOCKER_CONTENT_TRUST=1."
        ),
        docker_run="cosign verify --key cosign.pub registry.example/app@sha256:<digest>",
    ),
    owasp=(13,),
    cis=("4.5", "4.12"),
    cis_v18=("4.5", "4.12"),
    cis_level=2,
    decided_by="not recorded by the daemon: asked of a person, once per host",
)
def image_signatures(h: HostFacts) -> Result:
    return manual(
        "confirm that the images deployed here are signed and their signatures verified "
        "before they run (cosign/Notation in CI or admission, or DOCKER_CONTENT_TRUST=1 on "
        "the clients that pull)"
    )


@rule(
    id="DMN-IMAGE-SCANNING",
    title="Images scanned in CI and rebuilt for security fixes",
    title_fr="Images analysées en CI et reconstruites pour les correctifs",
    severity=Severity.MEDIUM,
    scope=Scope.DAEMON,
    rationale=(
        "Known vulnerabilities, secrets and misconfigurations are cheapest to catch when the "
        "image is built; an image that is never rebuilt keeps every flaw of its base."
    ),
    rationale_fr=(
        "Vulnérabilités connues, secrets et erreurs de configuration se corrigent au moindre "
        "coût à la construction de l'image ; une image jamais reconstruite garde toutes les "
        "failles de sa base."
    ),
    remediation=Remediation(
        en=(
            "Add an image scanner (Trivy, Grype, Clair...) and a Dockerfile linter to the CI "
            "pipeline, fail the build on serious findings, and rebuild images on a schedule."
        ),
        fr=(
            "Ajoutez au pipeline de CI un analyseur d'images (Trivy, Grype, Clair...) et un "
            "linter de Dockerfile, faites échouer la construction sur les constats graves, et "
            "reconstruisez les images régulièrement."
        ),
        docker_run="trivy image --exit-code 1 --severity HIGH,CRITICAL registry.example/app:1.4",
    ),
    owasp=(9,),
    cis=("4.4",),
    cis_v18=("4.4",),
    cis_level=1,
    decided_by="happens in CI, outside the daemon: asked of a person, once per host",
)
def image_scanning(h: HostFacts) -> Result:
    return manual("confirm that the images run here are scanned in CI and rebuilt regularly")


@rule(
    id="DMN-TRUSTED-BASE-IMAGES",
    title="Base images from trusted sources",
    title_fr="Images de base de sources de confiance",
    severity=Severity.MEDIUM,
    scope=Scope.DAEMON,
    rationale=(
        "An image inherits everything from its base; a base from an unknown publisher can "
        "carry a backdoor that no later step removes."
    ),
    rationale_fr=(
        "Une image hérite de tout ce que contient sa base ; une base d'un éditeur inconnu "
        "peut contenir une porte dérobée qu'aucune étape suivante ne supprime."
    ),
    remediation=Remediation(
        en=(
            "Build only FROM official or verified-publisher images, or from your own "
            "registry's mirrored and scanned copies, pinned by digest."
        ),
        fr=(
            "Ne construisez qu'à partir (FROM) d'images officielles ou d'éditeurs vérifiés, "
            "ou de copies reflétées et analysées dans votre registre, épinglées par "
            "empreinte."
        ),
    ),
    owasp=(13,),
    cis=("4.2",),
    cis_v18=("4.2",),
    cis_level=1,
    decided_by=(
        "a base image's origin is not recorded in the image: asked of a person, once per host"
    ),
)
def trusted_base_images(h: HostFacts) -> Result:
    return manual("confirm that every image's base comes from a source you trust")

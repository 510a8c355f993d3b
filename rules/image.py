"""Image rules, read from GET /images/{id}/json (ImageFacts.inspect) and
GET /images/{id}/history (ImageFacts.history). OWASP cheat sheet rules 2, 9 and 13.
"""

from __future__ import annotations

import re
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
from rules.engines import is_podman
from rules.facts import ImageFacts
from rules.fields import root_user, strings, text

# The legacy builder writes "/bin/sh -c #(nop) ADD file:… in /dest", BuildKit "ADD src /dest
# # buildkit"; a RUN line that merely mentions ADD matches neither.
ADD_STEP = re.compile(r"(?:^|#\(nop\)\s*)ADD\s")
# A base image's rootfs tarball unpacked at "/": how official images are made, not a choice
# made in this image's Dockerfile (CIS 4.9 is about the latter).
ROOTFS_IMPORT = re.compile(r"\s(?:in\s+)?/\s*(?:#\s*buildkit)?\s*$")
URL_CREDENTIALS = re.compile(r"//[^/@\s]+@")
EVIDENCE_CHARS = 200
PODMAN_LOCAL_PREFIX = "localhost/"  # Podman's name for images that came from no registry


@rule(
    id="IMG-USER",
    title="Image runs as root by default",
    title_fr="L'image s'exécute en root par défaut",
    severity=Severity.MEDIUM,
    scope=Scope.IMAGE,
    rationale=(
        "An image without a non-root USER makes every container started from it run as "
        "root unless each deployment remembers to override it."
    ),
    rationale_fr=(
        "Une image sans USER non root fait tourner en root chaque conteneur lancé depuis "
        "elle, à moins que chaque déploiement pense à le changer."
    ),
    remediation=Remediation(
        en=(
            "Create an unprivileged user in the Dockerfile and end with USER set to it, "
            "after the steps that need root."
        ),
        fr=(
            "Créez un utilisateur non privilégié dans le Dockerfile et terminez par une "
            "instruction USER à son nom, après les étapes qui exigent root."
        ),
        docker_run="--user 10001:10001",
        kubernetes="securityContext.runAsNonRoot: true",
    ),
    owasp=(2,),
    cis=("4.1",),
    cis_v18=("4.1",),
    cis_level=1,
    decided_by="Config.User from GET /images/{id}/json",
)
def image_user(i: ImageFacts) -> Result:
    user = text(i.inspect, "Config.User")
    if isinstance(user, Result):
        return user
    raw = dig(i.inspect, "Config.User")
    return failed("Config.User", raw) if root_user(user) else passed("Config.User", raw)


@rule(
    id="IMG-HEALTHCHECK",
    title="Image has no HEALTHCHECK",
    title_fr="L'image n'a pas de HEALTHCHECK",
    severity=Severity.LOW,
    scope=Scope.IMAGE,
    rationale=(
        "Without a health check the engine cannot tell a hung or hijacked service from a "
        "healthy one, so nothing restarts or flags it."
    ),
    rationale_fr=(
        "Sans contrôle de santé, le moteur ne distingue pas un service bloqué ou détourné "
        "d'un service sain : rien ne le redémarre ni ne le signale."
    ),
    remediation=Remediation(
        en="Add a HEALTHCHECK instruction that probes the service's real readiness.",
        fr="Ajoutez une instruction HEALTHCHECK qui vérifie la disponibilité réelle du service.",
        docker_run="--health-cmd 'wget -qO- http://localhost:8080/health || exit 1'",
        compose='healthcheck: {test: ["CMD", "wget", "-qO-", "http://localhost:8080/health"]}',
        kubernetes="livenessProbe.httpGet.path: /health",
    ),
    cis=("4.6",),
    cis_v18=("4.6",),
    cis_level=1,
    decided_by="Config.Healthcheck.Test from GET /images/{id}/json",
)
def healthcheck(i: ImageFacts) -> Result:
    config = dig(i.inspect, "Config")
    if not isinstance(config, dict):
        return unknown("Config is absent from the image data")
    # The daemon omits the key when the Dockerfile has no HEALTHCHECK.
    check = config.get("Healthcheck")
    test = check.get("Test") if isinstance(check, dict) else None
    if not isinstance(test, list) or not test or test[0] == "NONE":
        return failed("Config.Healthcheck", check)
    return passed("Config.Healthcheck.Test", test)


def add_steps(history: list[dict[str, Any]]) -> list[str]:
    steps = []
    for index, layer in enumerate(history):
        created_by = layer.get("CreatedBy")
        if not isinstance(created_by, str) or not ADD_STEP.search(created_by.strip()):
            continue
        oldest = index == len(history) - 1  # history lists the newest layer first
        if oldest and ROOTFS_IMPORT.search(created_by):
            continue
        shown = URL_CREDENTIALS.sub("//<redacted>@", created_by.strip())
        steps.append(shown[:EVIDENCE_CHARS])
    return steps


@rule(
    id="IMG-ADD",
    title="Image built with ADD instead of COPY",
    title_fr="Image construite avec ADD au lieu de COPY",
    severity=Severity.LOW,
    scope=Scope.IMAGE,
    rationale=(
        "ADD fetches URLs and unpacks archives implicitly, so a build can pull unverified "
        "remote content or extract more than intended; COPY does only what it says."
    ),
    rationale_fr=(
        "ADD télécharge des URL et décompresse les archives implicitement : une "
        "construction peut intégrer du contenu distant non vérifié ou extraire plus que "
        "prévu ; COPY ne fait que ce qu'il annonce."
    ),
    remediation=Remediation(
        en=(
            "Replace ADD with COPY; download remote files in a RUN step that verifies their "
            "checksum, and unpack archives explicitly."
        ),
        fr=(
            "Remplacez ADD par COPY ; téléchargez les fichiers distants dans une étape RUN "
            "qui vérifie leur somme de contrôle, et décompressez les archives explicitement."
        ),
    ),
    owasp=(9,),
    cis=("4.9",),
    cis_v18=("4.9",),
    cis_level=1,
    decided_by="history[].CreatedBy from GET /images/{id}/history",
)
def add_instruction(i: ImageFacts) -> Result:
    if i.history is None:
        return unknown("the image history could not be read")
    if not isinstance(i.history, list) or not all(
        isinstance(h, dict) and isinstance(h.get("CreatedBy"), str) for h in i.history
    ):
        # A layer whose step cannot be read could be the ADD: never a pass.
        return unknown("the image history is not a list of layers")
    if not i.history:  # every image has at least one layer, so an empty list is a read gap
        return unknown("the image history is empty")
    steps = add_steps(i.history)
    return failed("history[].CreatedBy", steps) if steps else passed()


@rule(
    id="IMG-LATEST",
    title="Image tagged only as latest",
    title_fr="Image étiquetée uniquement latest",
    severity=Severity.LOW,
    scope=Scope.IMAGE,
    rationale=(
        "'latest' moves with every push: which build runs depends on when it was pulled, "
        "and a compromised or broken release slips in unnoticed."
    ),
    rationale_fr=(
        "« latest » change à chaque publication : la version exécutée dépend du moment du "
        "téléchargement, et une version compromise ou défectueuse passe inaperçue."
    ),
    remediation=Remediation(
        en="Reference images by an explicit version tag, or better by digest (@sha256:…).",
        fr=(
            "Référencez les images par une étiquette de version explicite, ou mieux par "
            "empreinte (@sha256:…)."
        ),
        docker_run="nginx:1.27.2@sha256:<digest>",
        compose="image: nginx:1.27.2@sha256:<digest>",
        kubernetes="image: nginx:1.27.2@sha256:<digest>",
    ),
    owasp=(13,),
    decided_by="RepoTags from GET /images/{id}/json",
)
def latest_only(i: ImageFacts) -> Result:
    tags = strings(i.inspect, "RepoTags")
    if isinstance(tags, Result):
        return tags
    tags = [t for t in tags if t != "<none>:<none>"]  # how old daemons list untagged images
    if not tags:
        return not_applicable("the image has no tag")
    if all(t.rpartition(":")[2] == "latest" for t in tags):
        return failed("RepoTags", dig(i.inspect, "RepoTags"))
    return passed("RepoTags", dig(i.inspect, "RepoTags"))


@rule(
    id="IMG-DIGEST",
    title="Image has no registry digest",
    title_fr="L'image n'a pas d'empreinte de registre",
    severity=Severity.LOW,
    scope=Scope.IMAGE,
    rationale=(
        "An image with no RepoDigests was built or loaded locally: it cannot be traced to a "
        "registry manifest, pinned by digest or checked against a signature. Podman gives "
        "local images a localhost/ digest, which traces to no registry either."
    ),
    rationale_fr=(
        "Une image sans RepoDigests a été construite ou chargée localement : impossible de "
        "la relier à un manifeste de registre, de l'épingler par empreinte ou de vérifier "
        "sa signature. Podman attribue aux images locales une empreinte localhost/, qui ne "
        "renvoie pas davantage à un registre."
    ),
    remediation=Remediation(
        en=(
            "Build in CI, push to a trusted registry (signed, with an SBOM), and deploy "
            "hosts by pulling from it."
        ),
        fr=(
            "Construisez en CI, publiez dans un registre de confiance (avec signature et "
            "SBOM), et déployez en tirant les images depuis ce registre."
        ),
    ),
    owasp=(13,),
    decided_by="RepoDigests from GET /images/{id}/json (localhost/ ones ignored on Podman)",
)
def registry_digest(i: ImageFacts) -> Result:
    digests = strings(i.inspect, "RepoDigests")
    if isinstance(digests, Result):
        return digests
    if i.host is not None and is_podman(i.host):
        # Podman files imported and built images under localhost/ and digests them there.
        digests = [d for d in digests if not d.startswith(PODMAN_LOCAL_PREFIX)]
    raw = dig(i.inspect, "RepoDigests")
    return passed("RepoDigests", raw) if digests else failed("RepoDigests", raw)

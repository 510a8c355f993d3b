"""Secrets where they should not be: environment variables, labels and image build history
(OWASP cheat sheet rule 12, CIS 4.10). Detection lives in rules.secrets; evidence
names the variable, label or history step and never repeats the value.
"""

from __future__ import annotations

from typing import Any

from rules.base import Remediation, Result, Scope, Severity, dig, failed, passed, rule, unknown
from rules.facts import ContainerFacts, ImageFacts
from rules.secrets import Suspect, judge, judge_label, scan_command

EVIDENCE_CHARS = 160

REMEDIATION = Remediation(
    en=(
        "Move the value out of the image and the container definition: mount it as a Docker "
        "(or Compose) secret read from /run/secrets, or fetch it at start from a secret "
        "manager. Then rotate it: anyone who could inspect the container or pull the image "
        "has seen it."
    ),
    fr=(
        "Sortez la valeur de l'image et de la définition du conteneur : montez-la comme "
        "secret Docker (ou Compose) lu dans /run/secrets, ou récupérez-la au démarrage "
        "depuis un gestionnaire de secrets. Puis renouvelez-la : quiconque pouvait inspecter "
        "le conteneur ou tirer l'image l'a vue."
    ),
    docker_run="docker secret create db_password ./db_password.txt",
    compose="secrets: [db_password]  # read /run/secrets/db_password",
    kubernetes="env[].valueFrom.secretKeyRef",
)


def env_suspects(config: Any, path: str) -> list[Suspect] | Result:
    """Suspects among a Config's variables, from the collector's per-variable measurements."""
    env = dig(config, "Env")
    if env is None or env == []:
        return []
    meta = dig(config, "PostureEnvMeta")
    if not isinstance(meta, list):
        return unknown(f"{path}.Env has values that were not measured when collected")
    found = []
    for item in meta:
        if not isinstance(item, dict):
            continue
        name, length, bits = item.get("name"), item.get("length"), item.get("entropy")
        if isinstance(name, str) and isinstance(length, int) and isinstance(bits, int | float):
            suspect = judge(name, length, float(bits))
            if suspect is not None:
                found.append(suspect)
    return found


def label_suspects(config: Any) -> list[Suspect]:
    labels = dig(config, "Labels")
    if not isinstance(labels, dict):
        return []
    found = []
    for key, value in labels.items():
        if isinstance(key, str) and isinstance(value, str):
            suspect = judge_label(key, value)
            if suspect is not None:
                found.append(suspect)
    return found


def evidence(path: str, env: list[Suspect], labels: list[Suspect]) -> list[tuple[str, str]]:
    return [(f"{path}.Env[{s.name}]", s.shown()) for s in env] + [
        (f"{path}.Labels[{s.name}]", s.shown()) for s in labels
    ]


def verdict(items: list[tuple[str, Any]]) -> Result:
    if not items:
        return passed()
    (first, value), *rest = items
    return failed(first, value, *rest)


@rule(
    id="CTR-SECRETS",
    title="Secret in the container's environment or labels",
    title_fr="Secret dans l'environnement ou les étiquettes du conteneur",
    severity=Severity.HIGH,
    scope=Scope.CONTAINER,
    rationale=(
        "Environment variables and labels are returned in clear by docker inspect to anyone "
        "with API access, copied into logs and crash reports, and inherited by every child "
        "process: a password or token there is not secret."
    ),
    rationale_fr=(
        "Les variables d'environnement et les étiquettes sont renvoyées en clair par docker "
        "inspect à quiconque accède à l'API, recopiées dans les journaux et rapports "
        "d'erreur, et héritées par chaque processus fils : un mot de passe ou un jeton s'y "
        "trouvant n'a plus rien de secret."
    ),
    remediation=REMEDIATION,
    owasp=(12,),
    decided_by=(
        "Config.PostureEnvMeta (name, length and entropy of each Config.Env value, measured "
        "at collection) and Config.Labels from GET /containers/{id}/json"
    ),
)
def container_secrets(c: ContainerFacts) -> Result:
    config = dig(c.inspect, "Config")
    if not isinstance(config, dict):
        return unknown("Config is absent from the container data")
    env = env_suspects(config, "Config")
    if isinstance(env, Result):
        return env
    return verdict(evidence("Config", env, label_suspects(config)))


def history_suspects(history: list[dict[str, Any]]) -> list[tuple[str, str]]:
    found = []
    for index, layer in enumerate(history):
        created_by = layer.get("CreatedBy")
        if not isinstance(created_by, str):
            continue
        shown, count = scan_command(created_by.strip())
        if count:
            found.append((f"history[{index}].CreatedBy", shown[:EVIDENCE_CHARS]))
    return found


@rule(
    id="IMG-SECRETS",
    title="Secret baked into the image",
    title_fr="Secret intégré à l'image",
    severity=Severity.HIGH,
    scope=Scope.IMAGE,
    rationale=(
        "Whatever a Dockerfile puts in ENV, LABEL, a build argument or a RUN command line "
        "stays in the image configuration and history for anyone who pulls it, even if a "
        "later layer deletes it."
    ),
    rationale_fr=(
        "Tout ce qu'un Dockerfile place dans ENV, LABEL, un argument de construction ou une "
        "ligne de commande RUN reste dans la configuration et l'historique de l'image pour "
        "quiconque la tire, même si une couche suivante l'efface."
    ),
    remediation=Remediation(
        en=(
            "Rebuild without the secret: pass build-time credentials with BuildKit secret "
            "mounts (RUN --mount=type=secret), never ENV, ARG or LABEL, and give running "
            "containers their secrets at start. Rotate the exposed value."
        ),
        fr=(
            "Reconstruisez sans le secret : transmettez les identifiants de construction par "
            "montage de secret BuildKit (RUN --mount=type=secret), jamais par ENV, ARG ou "
            "LABEL, et fournissez leurs secrets aux conteneurs au démarrage. Renouvelez la "
            "valeur exposée."
        ),
        docker_run=(
            "docker build --secret id=npm,src=$HOME/.npmrc .  "
            "# RUN --mount=type=secret,id=npm npm ci"
        ),
    ),
    owasp=(12,),
    cis=("4.10",),
    cis_v18=("4.10",),
    cis_level=1,
    decided_by=(
        "Config.PostureEnvMeta and Config.Labels from GET /images/{id}/json; RUN lines "
        "(build arguments, --password/--token flags, URL credentials) in "
        "GET /images/{id}/history"
    ),
)
def image_secrets(i: ImageFacts) -> Result:
    config = dig(i.inspect, "Config")
    if not isinstance(config, dict):
        return unknown("Config is absent from the image data")
    env = env_suspects(config, "Config")
    if isinstance(env, Result):
        return env
    items: list[tuple[str, Any]] = list(evidence("Config", env, label_suspects(config)))
    if isinstance(i.history, list):
        items += history_suspects([h for h in i.history if isinstance(h, dict)])
    elif not items:
        return unknown("the image history could not be read")
    return verdict(items)

"""The rule catalogue. Importing this package registers every rule."""

from posture.rules import (  # noqa: F401  (registration)
    container,
    container_mounts,
    container_namespaces,
    container_resources,
    daemon,
    daemon_versions,
    host,
    image,
)
from posture.rules.base import REGISTRY, Outcome, Rule, Scope, Severity
from posture.rules.engine import Evaluation, evaluate
from posture.rules.scoring import HostScore, score_host

__all__ = [
    "REGISTRY",
    "Evaluation",
    "HostScore",
    "Outcome",
    "Rule",
    "Scope",
    "Severity",
    "evaluate",
    "score_host",
]

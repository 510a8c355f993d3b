"""The rule catalogue. Importing this package registers every rule."""

from posture.rules import container, daemon, image  # noqa: F401  (registration)
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

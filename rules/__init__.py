"""The rule catalogue. Importing this package registers every rule."""

from rules import (  # noqa: F401  (registration)
    container,
    container_mounts,
    container_namespaces,
    container_ports,
    container_resources,
    container_runtime,
    container_secrets,
    daemon,
    daemon_config,
    daemon_versions,
    host,
    host_audit,
    host_files,
    host_settings,
    image,
    image_supply_chain,
    image_vulns,
    swarm,
)
from rules.base import REGISTRY, Outcome, Rule, Scope, Severity
from rules.engine import Evaluation, evaluate
from rules.scoring import HostScore, score_host

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

"""Evaluations built by hand, for the tests that need no daemon (exceptions themselves:
tests.factories.RiskExceptionFactory)."""

from __future__ import annotations

from typing import Any

from rules import REGISTRY, Evaluation
from rules.base import Result, Scope, failed
from rules.facts import ContainerFacts, HostFacts, ImageFacts

CONTAINER_RULE = "CTR-PRIVILEGED"
IMAGE_ID = "sha256:" + "a" * 64
CONTAINER_ID = "c" * 64


def image_rule() -> str:
    return next(
        r.id for r in sorted(REGISTRY.values(), key=lambda r: r.id) if r.scope is Scope.IMAGE
    )


def daemon_rule() -> str:
    return next(
        r.id for r in sorted(REGISTRY.values(), key=lambda r: r.id) if r.scope is Scope.DAEMON
    )


def facts(
    container_name: str = "payments-api", image_ref: str = "registry.example/legacy/app:1"
) -> HostFacts:
    image = ImageFacts(id=IMAGE_ID, inspect={"RepoTags": [image_ref]})
    container = ContainerFacts(
        id=CONTAINER_ID,
        inspect={"Name": f"/{container_name}", "Image": IMAGE_ID, "Config": {"Image": image_ref}},
    )
    return HostFacts(version={}, info={}, containers=[container], images=[image])


def evaluation(rule_id: str, result: Result | None = None, **subject: Any) -> Evaluation:
    rule = REGISTRY[rule_id]
    kind = rule.scope
    key, name = {
        Scope.CONTAINER: (CONTAINER_ID, "payments-api"),
        Scope.IMAGE: (IMAGE_ID, "registry.example/legacy/app:1"),
        Scope.DAEMON: ("", "daemon"),
    }[kind]
    return Evaluation(
        rule,
        kind,
        subject.get("key", key),
        subject.get("name", name),
        result or failed("HostConfig.Privileged", True),
    )

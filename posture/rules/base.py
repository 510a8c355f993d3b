"""The rule engine's vocabulary: what a rule is, what it returns, and how it is registered.

Rules are small pure functions over collected facts (posture.rules.facts) with their
metadata declared beside them through the ``@rule`` decorator. Nothing here touches the
database, so the engine can be tested and benchmarked on plain dicts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any


class Severity(IntEnum):
    # Integers so severities sort and compare; the weight table lives in scoring.
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    # The rule does not concern this subject (e.g. a seccomp rule on a daemon without seccomp).
    NOT_APPLICABLE = "na"
    # The facts needed to decide are missing: never counted as a pass.
    UNKNOWN = "unknown"


class Scope(StrEnum):
    DAEMON = "daemon"
    CONTAINER = "container"
    IMAGE = "image"


@dataclass(frozen=True)
class Evidence:
    """The exact field and value that decided a verdict, e.g. HostConfig.CapAdd = ["SYS_ADMIN"]."""

    field: str
    value: str

    def __str__(self) -> str:
        return f"{self.field} = {self.value}"


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    evidence: tuple[Evidence, ...] = ()
    reason: str = ""


def passed(field_name: str | None = None, value: Any = None) -> Result:
    evidence = (Evidence(field_name, show(value)),) if field_name else ()
    return Result(Outcome.PASS, evidence)


def failed(field_name: str, value: Any, *more: tuple[str, Any]) -> Result:
    items = [Evidence(field_name, show(value))] + [Evidence(f, show(v)) for f, v in more]
    return Result(Outcome.FAIL, tuple(items))


def unknown(reason: str) -> Result:
    return Result(Outcome.UNKNOWN, reason=reason)


def not_applicable(reason: str) -> Result:
    return Result(Outcome.NOT_APPLICABLE, reason=reason)


def show(value: Any) -> str:
    """Render an inspect value the way a person reads it in `docker inspect` output."""
    if isinstance(value, str):
        return json.dumps(value)
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


MISSING: Any = object()


def dig(data: Any, path: str, default: Any = MISSING) -> Any:
    """Walk a dotted inspect path ("HostConfig.CapAdd"); MISSING when any step is absent.

    Distinguishes "field absent" (the daemon did not tell us: unknown) from "field null"
    (the daemon told us it is unset), which rules must treat differently.
    """
    current = data
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            return default
        current = current[part]
    return current


@dataclass(frozen=True)
class Remediation:
    en: str
    fr: str
    docker_run: str = ""
    compose: str = ""
    kubernetes: str = ""
    daemon_json: str = ""


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    title_fr: str
    severity: Severity
    scope: Scope
    rationale: str
    rationale_fr: str
    remediation: Remediation
    check: Callable[..., Result]
    owasp: tuple[int, ...] = ()
    cis: tuple[str, ...] = field(default=())

    def references(self) -> list[str]:
        refs = [f"OWASP Docker Security Cheat Sheet rule {n}" for n in self.owasp]
        refs += [f"CIS Docker Benchmark {cid}" for cid in self.cis]
        return refs


REGISTRY: dict[str, Rule] = {}


def rule(
    *,
    id: str,
    title: str,
    title_fr: str,
    severity: Severity,
    scope: Scope,
    rationale: str,
    rationale_fr: str,
    remediation: Remediation,
    owasp: tuple[int, ...] = (),
    cis: tuple[str, ...] = (),
) -> Callable[[Callable[..., Result]], Callable[..., Result]]:
    """Register the decorated check with its metadata; the function itself stays callable."""

    def register(check: Callable[..., Result]) -> Callable[..., Result]:
        if id in REGISTRY:
            raise ValueError(f"duplicate rule id {id}")
        REGISTRY[id] = Rule(
            id=id,
            title=title,
            title_fr=title_fr,
            severity=severity,
            scope=scope,
            rationale=rationale,
            rationale_fr=rationale_fr,
            remediation=remediation,
            check=check,
            owasp=owasp,
            cis=cis,
        )
        return check

    return register

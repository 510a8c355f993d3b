"""The rule engine's vocabulary: what a rule is, what it returns, and how it is registered.

Rules are small pure functions over collected facts (rules.facts) with their
metadata declared beside them through the ``@rule`` decorator. Nothing here touches the
database, so the engine can be tested and benchmarked on plain dicts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from functools import lru_cache
from json.encoder import encode_basestring_ascii
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
    # Only a person can decide (e.g. "only trusted users control the daemon"): listed with
    # guidance, never scored.
    MANUAL = "manual"


class Cause(StrEnum):
    """Why a verdict could not be reached: shown on coverage pages, grouped."""

    DATA_MISSING = "data_missing"  # the daemon did not report the field
    NO_SSH = "no_ssh"  # host-level check, host not reachable over SSH
    PERMISSION_DENIED = "permission_denied"  # reachable, but the file or command was refused
    NOT_SUPPORTED = "not_supported"  # the engine does not have the feature (e.g. Podman)

    @property
    def label(self) -> str:
        return {
            Cause.DATA_MISSING: "data missing",
            Cause.NO_SSH: "no SSH access",
            Cause.PERMISSION_DENIED: "permission denied",
            Cause.NOT_SUPPORTED: "not supported by this engine",
        }[self]


class Source(StrEnum):
    """What a rule needs to see to decide."""

    API = "api"  # the Engine API alone
    SSH = "ssh"  # files and commands on the host, through SSH


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
    cause: Cause | None = None  # for UNKNOWN only


def passed(field_name: str | None = None, value: Any = None) -> Result:
    evidence = (Evidence(field_name, show(value)),) if field_name else ()
    return Result(Outcome.PASS, evidence)


def failed(field_name: str, value: Any, *more: tuple[str, Any]) -> Result:
    items = [Evidence(field_name, show(value))] + [Evidence(f, show(v)) for f, v in more]
    return Result(Outcome.FAIL, tuple(items))


def unknown(reason: str, cause: Cause = Cause.DATA_MISSING) -> Result:
    return Result(Outcome.UNKNOWN, reason=reason, cause=cause)


def manual(reason: str) -> Result:
    return Result(Outcome.MANUAL, reason=reason)


def not_applicable(reason: str) -> Result:
    return Result(Outcome.NOT_APPLICABLE, reason=reason)


# show() runs for nearly every verdict: the scalars are written out as json.dumps would,
# and the encoder is built once (json.dumps builds one per call when given options).
_SHOW_SCALARS: dict[Any, str] = {None: "null", True: "true", False: "false"}
_SHOW = json.JSONEncoder(sort_keys=True, default=str)


def show(value: Any) -> str:
    """Render an inspect value the way a person reads it in `docker inspect` output."""
    if isinstance(value, str):
        return encode_basestring_ascii(value)
    if value is None or value is True or value is False:
        return _SHOW_SCALARS[value]
    try:
        return _SHOW.encode(value)
    except (TypeError, ValueError):
        return repr(value)


MISSING: Any = object()


@lru_cache(maxsize=4096)  # paths are the rules' literals; bounded in case one is built from data
def _steps(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def dig(data: Any, path: str, default: Any = MISSING) -> Any:
    """Walk a dotted inspect path ("HostConfig.CapAdd"); MISSING when any step is absent.

    Distinguishes "field absent" (the daemon did not tell us: unknown) from "field null"
    (the daemon told us it is unset), which rules must treat differently.
    """
    current = data
    for part in _steps(path):
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
    # Cheat-sheet rule numbers; "5a" is the English sheet's rule on published ports.
    owasp: tuple[int | str, ...] = ()
    cis: tuple[str, ...] = field(default=())  # CIS Docker Benchmark v1.6.0 numbering
    cis_v18: tuple[str, ...] = field(default=())  # the same recommendations in v1.8.0
    cis_level: int | None = None  # CIS profile level 1 or 2
    source: Source = Source.API
    # How the verdict is reached, for docs/RULES.md: the fields or files read, in a line.
    decided_by: str = ""

    def references(self) -> list[str]:
        refs = [f"OWASP Docker Security Cheat Sheet rule {n}" for n in self.owasp]
        refs += [f"CIS Docker Benchmark v1.6.0 {cid}" for cid in self.cis]
        refs += [f"CIS Docker Benchmark v1.8.0 {cid}" for cid in self.cis_v18]
        return refs


# Bumped whenever a rule is added, removed or changes meaning; stored with each scan so a
# score can be read against the catalogue that produced it.
CATALOGUE_VERSION = "2026.12.1"

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
    owasp: tuple[int | str, ...] = (),
    cis: tuple[str, ...] = (),
    cis_v18: tuple[str, ...] = (),
    cis_level: int | None = None,
    source: Source = Source.API,
    decided_by: str = "",
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
            cis_v18=cis_v18,
            cis_level=cis_level,
            source=source,
            decided_by=decided_by or (check.__doc__ or "").strip().split("\n")[0],
        )
        return check

    return register

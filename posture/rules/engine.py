"""Run every registered rule over a host's facts."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from posture.rules.base import REGISTRY, Outcome, Result, Rule, Scope
from posture.rules.facts import HostFacts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    rule: Rule
    subject_kind: Scope
    subject_key: str  # container or image id; "" for the daemon
    subject_name: str
    result: Result

    @property
    def outcome(self) -> Outcome:
        return self.result.outcome


def _subjects(facts: HostFacts, scope: Scope) -> Iterable[tuple[str, str, object]]:
    if scope is Scope.DAEMON:
        yield "", "daemon", facts
    elif scope is Scope.CONTAINER:
        for container in facts.containers:
            yield container.id, container.name, container
    else:
        for image in facts.images:
            yield image.id, image.name, image


def evaluate(facts: HostFacts, rules: Iterable[Rule] | None = None) -> list[Evaluation]:
    facts.link()
    out: list[Evaluation] = []
    for rule in rules if rules is not None else REGISTRY.values():
        for key, name, subject in _subjects(facts, rule.scope):
            try:
                result = rule.check(subject)
            except Exception:  # a rule bug on odd data must not fail the scan or pass silently
                log.exception("rule %s crashed on %s", rule.id, name)
                result = Result(Outcome.UNKNOWN, reason="the rule could not read this data")
            out.append(Evaluation(rule, rule.scope, key, name, result))
    return out

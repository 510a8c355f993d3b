"""Run every registered rule over a host's facts."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from rules.base import REGISTRY, Outcome, Result, Rule, Scope
from rules.facts import HostFacts
from rules.fields import memoised

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    rule: Rule
    subject_kind: Scope
    subject_key: str  # container or image id; "" for the daemon
    subject_name: str
    result: Result
    # The risk exception (exceptions app, by id) that accepts this failure: the verdict stays
    # a fail, shown as accepted, but scoring leaves it out. Only ever set on a FAIL.
    accepted_by: int | None = None

    @property
    def outcome(self) -> Outcome:
        return self.result.outcome


def _subjects(facts: HostFacts) -> dict[Scope, list[tuple[str, str, object]]]:
    # Names are computed once per subject, not once per rule: ~40 rules read each one.
    return {
        Scope.DAEMON: [("", "daemon", facts)],
        Scope.CONTAINER: [(c.id, c.name, c) for c in facts.containers],
        Scope.IMAGE: [(i.id, i.name, i) for i in facts.images],
    }


def evaluate(facts: HostFacts, rules: Iterable[Rule] | None = None) -> list[Evaluation]:
    facts.link()
    subjects = _subjects(facts)
    out: list[Evaluation] = []
    append = out.append
    with memoised():
        for rule in rules if rules is not None else REGISTRY.values():
            scope, check = rule.scope, rule.check
            for key, name, subject in subjects[scope]:
                try:
                    result = check(subject)
                # A rule bug on odd data must not fail the scan or pass silently.
                except Exception:
                    log.exception("rule %s crashed on %s", rule.id, name)
                    result = Result(Outcome.UNKNOWN, reason="the rule could not read this data")
                append(Evaluation(rule, scope, key, name, result))
    return out

"""Host score and grade. The formula is written down in docs/ARCHITECTURE.md ("Scoring").

Each assessed rule r has a weight w(r) from its severity. Its credit is 1 when no subject
fails it, else half the share of subjects that pass it: one failing container out of fifty
still costs at least half of that rule's weight, since one privileged container is enough
to own the host. Rules with only unknown or not-applicable verdicts are left out of both
sides, so missing data never raises a score.

    score = round(100 * sum(w(r) * credit(r)) / sum(w(r)))

Grade: A >= 90, B >= 80, C >= 70, D >= 60, else F; a failing critical rule caps it at D.

A failure accepted by a risk exception (Evaluation.accepted_by) is left out of both sides,
as if the rule did not concern that subject: it neither costs nor earns credit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from rules.base import Outcome, Severity
from rules.engine import Evaluation

WEIGHTS = {
    Severity.CRITICAL: 10,
    Severity.HIGH: 5,
    Severity.MEDIUM: 2,
    Severity.LOW: 1,
    Severity.INFO: 0,
}
GRADES = ((90, "A"), (80, "B"), (70, "C"), (60, "D"))
# Every grade a host can get, best first: filters and charts list them in this order.
GRADE_LETTERS = ("A", "B", "C", "D", "F")


@dataclass
class RuleTally:
    passed: int = 0
    failed: int = 0
    not_applicable: int = 0
    unknown: int = 0
    manual: int = 0
    accepted: int = 0  # failures accepted by a risk exception: out of the score

    def add(self, outcome: Outcome) -> None:
        if outcome is Outcome.PASS:
            self.passed += 1
        elif outcome is Outcome.FAIL:
            self.failed += 1
        elif outcome is Outcome.NOT_APPLICABLE:
            self.not_applicable += 1
        elif outcome is Outcome.MANUAL:
            self.manual += 1
        else:
            self.unknown += 1

    @property
    def assessed(self) -> int:
        return self.passed + self.failed

    @property
    def credit(self) -> float:
        if self.failed == 0:
            return 1.0
        return 0.5 * self.passed / self.assessed


@dataclass
class HostScore:
    score: int | None  # None when nothing could be assessed
    grade: str
    tallies: dict[str, RuleTally] = field(default_factory=dict)
    failing_by_severity: dict[str, int] = field(default_factory=dict)

    @property
    def rules_failing(self) -> int:
        return sum(1 for t in self.tallies.values() if t.failed)

    @property
    def rules_assessed(self) -> int:
        # A rule whose only failures are accepted was still assessed, just not scored.
        return sum(1 for t in self.tallies.values() if t.assessed or t.accepted)

    @property
    def rules_unknown(self) -> int:
        return sum(
            1 for t in self.tallies.values() if t.unknown and not t.assessed and not t.accepted
        )


def grade_for(score: int | None, critical_failing: bool) -> str:
    if score is None:
        return "?"
    letter = next((g for floor, g in GRADES if score >= floor), "F")
    if critical_failing and letter in {"A", "B", "C"}:
        return "D"
    return letter


def score_host(evaluations: Iterable[Evaluation]) -> HostScore:
    tallies: dict[str, RuleTally] = defaultdict(RuleTally)
    severities: dict[str, Severity] = {}
    for ev in evaluations:
        # An accepted failure leaves both sums, like a subject the rule does not concern; it
        # never counts as a pass. accepted_by on any other verdict changes nothing.
        if ev.accepted_by is not None and ev.outcome is Outcome.FAIL:
            tallies[ev.rule.id].accepted += 1
        else:
            tallies[ev.rule.id].add(ev.outcome)
        severities[ev.rule.id] = ev.rule.severity

    total = earned = 0.0
    failing: dict[str, int] = defaultdict(int)
    for rule_id, tally in tallies.items():
        if not tally.assessed:
            continue
        weight = WEIGHTS[severities[rule_id]]
        total += weight
        earned += weight * tally.credit
        if tally.failed:
            failing[severities[rule_id].label] += 1

    score = round(100 * earned / total) if total else None
    grade = grade_for(score, critical_failing=failing.get("critical", 0) > 0)
    return HostScore(score, grade, dict(tallies), dict(failing))

"""score_host leaves accepted failures out of both sums; it never counts them as passes."""

from __future__ import annotations

from dataclasses import replace

from rules import REGISTRY, score_host
from rules.base import Scope, failed, passed, unknown
from rules.engine import Evaluation


def ev(rule_id: str, key: str, ok: bool, accepted_by: int | None = None) -> Evaluation:
    result = passed("X", 1) if ok else failed("X", 0)
    return Evaluation(REGISTRY[rule_id], Scope.CONTAINER, key, key, result, accepted_by)


def test_accepted_failure_leaves_the_score_and_the_grade_cap() -> None:
    critical = next(
        r.id
        for r in REGISTRY.values()
        if r.severity.label == "critical" and r.scope is Scope.CONTAINER
    )
    other = next(
        r.id for r in REGISTRY.values() if r.severity.label == "high" and r.scope is Scope.CONTAINER
    )
    plain = [ev(critical, "a", ok=False), ev(other, "a", ok=True)]
    accepted = [ev(critical, "a", ok=False, accepted_by=7), ev(other, "a", ok=True)]
    before, after = score_host(plain), score_host(accepted)
    assert before.score is not None and after.score is not None
    assert after.score > before.score
    assert after.score == 100  # the only assessed rule left passes
    assert before.grade == "F" and after.grade == "A"
    assert after.failing_by_severity == {}
    assert after.rules_assessed == before.rules_assessed == 2
    assert after.tallies[critical].accepted == 1 and after.tallies[critical].failed == 0


def test_one_accepted_subject_among_others_is_scored_like_an_absent_one() -> None:
    rule = next(
        r.id for r in REGISTRY.values() if r.severity.label == "high" and r.scope is Scope.CONTAINER
    )
    mixed = [
        ev(rule, "a", ok=False, accepted_by=1),
        ev(rule, "b", ok=False),
        ev(rule, "c", ok=True),
    ]
    without = [ev(rule, "b", ok=False), ev(rule, "c", ok=True)]
    assert score_host(mixed).score == score_host(without).score


def test_accepted_by_on_a_non_failure_changes_nothing() -> None:
    rule = next(r.id for r in REGISTRY.values() if r.scope is Scope.CONTAINER)
    unknown_ev = Evaluation(REGISTRY[rule], Scope.CONTAINER, "a", "a", unknown("x"))
    plain = [ev(rule, "b", ok=True), unknown_ev]
    marked = [replace(plain[0], accepted_by=3), replace(unknown_ev, accepted_by=3)]
    assert score_host(plain) == score_host(marked)

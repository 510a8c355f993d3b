"""The documented host score: weights by severity, partial credit per rule, grade caps."""

from __future__ import annotations

import pytest

from rules.base import Outcome, Remediation, Result, Rule, Scope, Severity
from rules.engine import Evaluation
from rules.scoring import WEIGHTS, grade_for, score_host

P, F, U, N = Outcome.PASS, Outcome.FAIL, Outcome.UNKNOWN, Outcome.NOT_APPLICABLE


def make_rule(rule_id: str, severity: Severity) -> Rule:
    return Rule(
        id=rule_id,
        title=rule_id,
        title_fr=rule_id,
        severity=severity,
        scope=Scope.CONTAINER,
        rationale="",
        rationale_fr="",
        remediation=Remediation(en="", fr=""),
        check=lambda _: Result(Outcome.PASS),
    )


def verdicts(rule_id: str, severity: Severity, *outcomes: Outcome) -> list[Evaluation]:
    rule = make_rule(rule_id, severity)
    return [
        Evaluation(rule, Scope.CONTAINER, f"c{n}", f"c{n}", Result(o))
        for n, o in enumerate(outcomes)
    ]


def test_formula_on_a_worked_example():
    evaluations = (
        verdicts("high", Severity.HIGH, P, P)  # credit 1
        + verdicts("medium", Severity.MEDIUM, P, F)  # credit 0.5 * 1/2
        + verdicts("low", Severity.LOW, F)  # credit 0
    )
    result = score_host(evaluations)
    # (5 * 1 + 2 * 0.25 + 1 * 0) / (5 + 2 + 1) = 5.5 / 8
    assert result.score == round(100 * 5.5 / 8) == 69
    assert result.grade == "D"
    assert result.failing_by_severity == {"medium": 1, "low": 1}
    assert (result.rules_assessed, result.rules_failing) == (3, 2)


def test_unknown_and_not_applicable_never_raise_the_score():
    base = verdicts("high", Severity.HIGH, P) + verdicts("medium", Severity.MEDIUM, F)
    padded = (
        base
        + verdicts("crit-unknown", Severity.CRITICAL, U, U)
        + verdicts("crit-na", Severity.CRITICAL, N)
        + verdicts("medium", Severity.MEDIUM, U, N)  # extra undecided verdicts on a failing rule
    )
    assert score_host(padded).score == score_host(base).score == round(100 * 5 / 7)
    assert score_host(padded).rules_unknown == 1


def test_unknown_on_a_failing_rule_does_not_dilute_its_failure():
    alone = score_host(verdicts("r", Severity.HIGH, F))
    diluted = score_host(verdicts("r", Severity.HIGH, F, U, U, U))
    assert alone.score == diluted.score == 0


def test_a_critical_failure_caps_the_grade_at_d():
    evaluations = verdicts("crit", Severity.CRITICAL, F, *[P] * 99)
    for n in range(20):
        evaluations += verdicts(f"high-{n}", Severity.HIGH, P)
    result = score_host(evaluations)
    assert result.score is not None and result.score >= 90
    assert result.grade == "D"


@pytest.mark.parametrize(("score", "grade"), [(95, "D"), (75, "D"), (65, "D"), (55, "F")])
def test_cap_lowers_good_grades_and_never_raises_bad_ones(score, grade):
    assert grade_for(score, critical_failing=True) == grade


@pytest.mark.parametrize(
    ("score", "grade"),
    [(100, "A"), (90, "A"), (89, "B"), (80, "B"), (70, "C"), (60, "D"), (59, "F")],
)
def test_grade_thresholds(score, grade):
    assert grade_for(score, critical_failing=False) == grade


@pytest.mark.parametrize(
    "evaluations",
    [[], verdicts("a", Severity.HIGH, U, U) + verdicts("b", Severity.CRITICAL, N)],
)
def test_nothing_assessed_gives_no_score(evaluations):
    result = score_host(evaluations)
    assert result.score is None
    assert result.grade == "?"


@pytest.mark.parametrize("containers", [2, 10, 50, 1000])
def test_one_failing_container_costs_at_least_half_the_rule(containers):
    evaluations = verdicts("r", Severity.HIGH, F, *[P] * (containers - 1))
    result = score_host(evaluations)
    credit = result.tallies["r"].credit
    assert credit <= 0.5
    assert result.score == round(100 * credit) <= 50


def test_more_failing_subjects_cost_more():
    one = score_host(verdicts("r", Severity.MEDIUM, F, P, P, P)).score
    two = score_host(verdicts("r", Severity.MEDIUM, F, F, P, P)).score
    assert one is not None and two is not None and two < one


def test_weights_follow_severity():
    ordered = [WEIGHTS[s] for s in sorted(Severity)]
    assert ordered == sorted(ordered)
    assert WEIGHTS[Severity.INFO] == 0

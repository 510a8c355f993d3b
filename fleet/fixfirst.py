"""The host page's "Fix first" plan: the few failing rules whose fix raises the host's
score most, each with its own gain, and the score once all of them are fixed.

Gains are not additive (a score is a ratio, rounded): each fix's gain is the host
re-scored with that rule alone fixed, and the plan's total is the host re-scored with all
the listed rules fixed at once (findings.fixfirst.rescore, i.e. rules.score_host). Built
from what the page has already loaded: no query of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from findings.fixfirst import first_line, rescore, tallies_of
from policy import profiles

if TYPE_CHECKING:
    from fleet.hostpage import FailingRule

# The plan is a short list: past five, a reader is back to the full list of failing rules.
PLAN_LENGTH = 5
# Subjects named in a line of the plan; the rest are counted.
NAMED_SUBJECTS = 3


@dataclass
class Fix:
    group: FailingRule
    gain: int
    subjects: list[str]  # the failing subjects this fix concerns (accepted ones left out)

    @property
    def named(self) -> list[str]:
        return self.subjects[:NAMED_SUBJECTS]

    @property
    def more(self) -> int:
        return max(len(self.subjects) - NAMED_SUBJECTS, 0)

    @property
    def line(self) -> str:
        return first_line(self.group.remediation_text) or self.group.title


@dataclass
class Plan:
    score: int | None  # the host's score re-scored from its picture (normally the stored one)
    stored: int | None  # the score the last scan stored
    fixes: list[Fix]
    combined: int | None  # the score with every listed fix made

    @property
    def drifted(self) -> bool:
        """The profile changed how a rule is weighed since the last scan: the plan's
        starting point is then today's weighing, not the stored score."""
        return self.score != self.stored


def plan(
    summary: Any,
    stored: int | None,
    failing: Iterable[FailingRule],
    profile: Iterable[profiles.Effective],
) -> Plan | None:
    """None when there is nothing to plan: no score, or no fix that raises it."""
    rules = {e.rule_id: e for e in profile}
    groups: Mapping[str, FailingRule] = {g.rule_id: g for g in failing if g.rule is not None}
    failing_of = {rid: (int(g.severity), g.accepted) for rid, g in groups.items()}
    regraded = {rid: e.severity for rid, e in rules.items() if e.severity is not None}
    tallies = tallies_of(summary, failing_of, regraded)
    # A rule the profile turned off since the scan is not the host's to fix: leave it out.
    for rid, effective in rules.items():
        if effective.disabled:
            tallies.pop(rid, None)
    score = rescore(tallies)
    if score is None:
        return None
    fixes = []
    for rid, group in groups.items():
        tally = tallies.get(rid)
        if tally is None or not tally.failed:
            continue
        gain = (rescore(tallies, {rid}) or 0) - score
        if gain > 0:
            names = [s.name for s in group.subjects if not s.accepted]
            fixes.append(Fix(group, gain, names))
    if not fixes:
        return None
    fixes.sort(key=lambda f: (-f.gain, -int(f.group.severity), f.group.rule_id))
    fixes = fixes[:PLAN_LENGTH]
    combined = rescore(tallies, {f.group.rule_id for f in fixes})
    return Plan(score, stored, fixes, combined)

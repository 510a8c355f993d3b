"""What to fix first: the rules whose failures, fixed, raise a score most.

"Fixed" means what the next scan after the fix would see: that rule's failing subjects
passing, everything else as the last scan found it. A host's score after a fix is computed
by rules.score_host itself, over evaluations rebuilt from the host's picture (rescore):
the host page never carries a second copy of the formula. Failures a risk exception accepted are
out of the score already, so fixing them gains nothing and they are left out; a rule a
profile turned off has no failure to fix.

The fleet ranking (fleet_ranking) needs the same answer for every host and every rule it
fails: rebuilding evaluations ~30,000 times per page was seconds at 1,000 hosts. It reads
each host's weighted sums once, from the same rules.scoring pieces (WEIGHTS, the tally's
credit), and moves one rule's share per fix: tests/findings/test_catalogue_ranking.py
holds it equal to rescore() on every host of a fleet, so the two cannot drift apart.
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from itertools import groupby
from math import gcd
from operator import itemgetter
from typing import Any, NamedTuple

from django.core.cache import cache
from django.db.models import Count, Max, Q, Sum

from access.scope import Scope as HostScope
from findings.models import Finding, HostPosture, RuleContribution
from rules import REGISTRY, Severity, score_host
from rules import catalogue as cat
from rules.base import Outcome, Result
from rules.engine import Evaluation
from rules.scoring import WEIGHTS, RuleTally

_PASS, _FAIL = Result(Outcome.PASS), Result(Outcome.FAIL)
# The end of a sentence: a full stop, question or exclamation mark, then a space and more.
_SENTENCE = re.compile(r"[.!?](?=\s+\S)")


class Tally(NamedTuple):
    """One rule on one host, as the score sees it: its weight's severity, its subjects
    passing and failing (accepted failures left out, as score_host leaves them out)."""

    severity: Severity
    passed: int
    failed: int


def _count(entry: Mapping[str, Any], key: str) -> int:
    value = entry.get(key, 0)
    return value if isinstance(value, int) and value > 0 else 0


def tallies_of(
    summary: Any,
    failing: Mapping[str, tuple[int, int]],
    severities: Mapping[str, Severity] | None = None,
) -> dict[str, Tally]:
    """A host's tallies from its rule summary (counts per outcome, accepted failures
    included) and, per failing rule, (severity the scan gave its findings, failures
    accepted). `severities`: re-graded rules (the host's profile) for rules without a
    finding to carry their severity. Rules no longer in the catalogue are left out."""
    out: dict[str, Tally] = {}
    if not isinstance(summary, Mapping):
        return out
    for rule_id, entry in summary.items():
        rule = REGISTRY.get(rule_id)
        if rule is None or not isinstance(entry, Mapping):
            continue
        passed, failed = _count(entry, "pass"), _count(entry, "fail")
        severity = (severities or {}).get(rule_id, rule.severity)
        if rule_id in failing:
            level, accepted = failing[rule_id]
            severity = _severity(level, severity)
            failed = max(failed - accepted, 0)
        if passed or failed:
            out[rule_id] = Tally(severity, passed, failed)
    return out


def _severity(value: int, default: Severity) -> Severity:
    try:
        return Severity(value)
    except ValueError:  # a severity from a newer catalogue than this process knows
        return default


def _evaluations(rule_id: str, tally: Tally, fixed: bool) -> list[Evaluation]:
    """Evaluations score_host reads as this tally. Only the counts' ratio reaches the score
    (a rule's credit is passed / assessed), so both are divided by their gcd: the division
    of the same rational gives the same float, and a rule passing on 200 containers costs
    one evaluation instead of 200."""
    rule = REGISTRY[rule_id]
    if rule.severity is not tally.severity:
        rule = replace(rule, severity=tally.severity)
    passed, failed = (tally.passed + tally.failed, 0) if fixed else (tally.passed, tally.failed)
    step = gcd(passed, failed) or 1
    make = Evaluation
    return [make(rule, rule.scope, "", "", _PASS)] * (passed // step) + [
        make(rule, rule.scope, "", "", _FAIL)
    ] * (failed // step)


def rescore(tallies: Mapping[str, Tally], fixed: Collection[str] = ()) -> int | None:
    """The host's score by rules.score_host, with the rules in `fixed` passing."""
    evaluations: list[Evaluation] = []
    for rule_id, tally in tallies.items():
        evaluations += _evaluations(rule_id, tally, rule_id in fixed)
    return score_host(evaluations).score


def first_line(text: str) -> str:
    """The remediation's first sentence: the one-line fix a plan shows (the rest is on the
    rule's card)."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    match = _SENTENCE.search(line)
    return line[: match.start() + 1] if match else line


# ---- the fleet: every host in the scope, every rule it fails, in one pass ----


@dataclass
class FleetFix:
    """Fixing one rule on every host in the scope that fails it."""

    rule_id: str
    hosts: int
    gain: float  # points of the fleet score (the mean of the hosts' scores)

    @property
    def rounded(self) -> float:
        return round(self.gain, 1)


@dataclass
class FleetRanking:
    hosts: int  # hosts with a score: the fleet score's denominator
    score: float | None  # the fleet score now, from the same sums
    fixes: list[FleetFix]

    def of(self, rule_id: str) -> FleetFix | None:
        return next((f for f in self.fixes if f.rule_id == rule_id), None)


class _Sums(NamedTuple):
    earned: float
    total: float


def _sums(tallies: Mapping[str, Tally]) -> _Sums:
    earned = total = 0.0
    for tally in tallies.values():
        weight = WEIGHTS[tally.severity]
        total += weight
        earned += weight * RuleTally(passed=tally.passed, failed=tally.failed).credit
    return _Sums(earned, total)


def host_gains(tallies: Mapping[str, Tally]) -> tuple[int | None, dict[str, int]]:
    """The host's score and, per failing rule, what fixing it alone adds."""
    earned, total = _sums(tallies)
    if not total:
        return None, {}
    score = round(100 * earned / total)
    gains = {}
    for rule_id, tally in tallies.items():
        if tally.failed:
            weight = WEIGHTS[tally.severity]
            credit = RuleTally(passed=tally.passed, failed=tally.failed).credit
            gains[rule_id] = round(100 * (earned + weight * (1 - credit)) / total) - score
    return score, gains


def _failing(scope: HostScope) -> dict[int, dict[str, tuple[int, int]]]:
    """Per host, per rule with an open finding: (severity, failures accepted). One GROUP BY
    over the scope's open findings."""
    rows = (
        scope.filter(Finding.objects.open(), prefix="host__")
        .order_by()
        .values("host_id", "rule_id")
        .annotate(level=Max("severity"), accepted=Count("pk", filter=Q(accepted=True)))
        .values_list("host_id", "rule_id", "level", "accepted")
    )
    out: dict[int, dict[str, tuple[int, int]]] = {}
    for host_id, rule_id, level, accepted in rows:
        out.setdefault(host_id, {})[rule_id] = (level, accepted)
    return out


def _counted(
    counts: Iterable[tuple[str, int, int]], failing: Mapping[str, tuple[int, int]]
) -> dict[str, Tally]:
    """tallies_of for counts read from the database as integers: the same tallies, without
    the checks a JSON summary needs (a third of the fleet ranking's time at 1,000 hosts)."""
    out: dict[str, Tally] = {}
    for rule_id, passed, failed in counts:
        rule = REGISTRY.get(rule_id)
        if rule is None:
            continue
        severity, known = rule.severity, failing.get(rule_id)
        if known is not None:
            severity = _severity(known[0], severity)
            failed = max(failed - known[1], 0)
        if passed or failed:
            out[rule_id] = Tally(severity, passed, failed)
    return out


def rank_fleet(
    pictures: Iterable[tuple[int, Iterable[tuple[str, int, int]]]],
    failing: Mapping[int, Mapping[str, tuple[int, int]]],
) -> FleetRanking:
    """The ranking from (host id, its (rule, passing, failing) counts) pairs and _failing's
    answer."""
    hosts, score_sum = 0, 0
    gains: dict[str, list[int]] = {}
    for host_id, counts in pictures:
        score, per_rule = host_gains(_counted(counts, failing.get(host_id, {})))
        if score is None:
            continue
        hosts += 1
        score_sum += score
        for rule_id, gain in per_rule.items():
            gains.setdefault(rule_id, []).append(gain)
    fixes = [FleetFix(r, len(g), sum(g) / hosts) for r, g in gains.items() if sum(g) > 0]
    fixes.sort(key=lambda f: (-f.gain, -f.hosts, f.rule_id))
    return FleetRanking(hosts, score_sum / hosts if hosts else None, fixes)


def _version(scope: HostScope) -> tuple[int, int]:
    """Changes with any scan stored in the scope (each one a new current_scan: an exception
    granted or revoked takes effect through the rescan it queues) and with a host joining
    or leaving it: the cache's key."""
    postures = scope.filter(HostPosture.objects.all(), prefix="host__").aggregate(
        n=Count("pk"), scans=Sum("current_scan_id")
    )
    return postures["n"], postures["scans"] or 0


def _pictures(scope: HostScope) -> Iterator[tuple[int, list[tuple[str, int, int]]]]:
    """(host id, its passes and failures per rule) for the hosts in scope: read from the
    hosts' shares of the catalogue's totals (RuleContribution: the same two counts as the
    rule summary), not from the summaries themselves, whose JSON (reasons and causes
    included) took 1.9 s to load at 1,000 hosts where these rows take 0.1 s."""
    rows = (
        scope.filter(RuleContribution.objects.filter(hosts_assessed=1), prefix="posture__host__")
        .exclude(rule_id=cat.HOSTS)
        .order_by("posture_id")
        .values_list("posture_id", "rule_id", "passing", "failing")
    )
    for host_id, group in groupby(rows.iterator(chunk_size=2000), key=itemgetter(0)):
        yield host_id, [row[1:] for row in group]


# How long a ranking may be served after a scan changed the fleet. Every scan changes the
# version, and a fleet of 1,000 hosts stores about one a second: recomputing on each (0.5 s)
# would make every catalogue page pay it. A minute-old ranking still says what to fix first.
MAX_AGE = 60.0


def fleet_ranking(scope: HostScope) -> FleetRanking:
    """The fleet ranking over the hosts in `scope`: two queries (the hosts' pass and fail
    counts per rule, the open findings grouped by host and rule) when anything changed and
    the last ranking is older than MAX_AGE, else one small aggregate."""
    key, version = f"findings:fix-first:{scope.key}", _version(scope)
    cached = cache.get(key)
    if cached is not None and (cached[0] == version or time.monotonic() - cached[2] < MAX_AGE):
        ranking: FleetRanking = cached[1]
        return ranking
    ranking = rank_fleet(_pictures(scope), _failing(scope))
    cache.set(key, (version, ranking, time.monotonic()), None)
    return ranking

"""A period's report: what the report page shows and the scheduled email sends."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Sum
from django.utils import timezone, translation

from access.scope import Scope as AccessScope
from findings.models import Finding
from rules.scoring import GRADE_LETTERS
from trends import periodlists, queries
from trends.dashboard import rule_title
from trends.periodlists import Baseline, Line
from trends.periods import Period, last_complete
from trends.scope import Scope, day_start
from vulns import history


@dataclass(frozen=True)
class RuleLine:
    rule_id: str
    title: str
    severity: int
    hosts: int


@dataclass
class Report:
    period: Period
    team: str
    score: float | None
    previous_score: float | None
    hosts: int
    grades: list[tuple[str, int]]
    top_rules: list[RuleLine]
    opened: int  # baselines left out
    resolved: int
    mttr: list[queries.Remediation]
    criticals: list[Finding]  # open at the end of the period
    baselines: list[Baseline] = field(default_factory=list)
    opened_list: list[Line] = field(default_factory=list)
    resolved_list: list[Line] = field(default_factory=list)
    series: list[queries.DayPoint] = field(default_factory=list)
    # Image vulnerabilities: open at the time of the report, time-to-fix within the period.
    vulnerabilities: list[history.SeverityFigures] = field(default_factory=list)
    # The teams a scoped account's report covers when no one team was asked for (None:
    # the whole fleet), and whether the team asked for is outside the account's teams.
    teams: tuple[str, ...] | None = None
    refused: bool = False

    @property
    def has_data(self) -> bool:
        return self.hosts > 0 or any(p.mean is not None for p in self.series)

    @property
    def baseline_findings(self) -> int:
        return sum(b.findings for b in self.baselines)

    @property
    def delta(self) -> float | None:
        if self.score is None or self.previous_score is None:
            return None
        return round(self.score - self.previous_score, 1)


def _closing(scope: Scope, period: Period) -> tuple[float | None, int, dict[str, int]]:
    """Headline score, hosts and grades of the picture a period closed on, one statement:
    grouped by grade, the mean is rebuilt from each grade's sum and count of scores."""
    closing = queries.closing_scores(scope, period.start, period.last_day)
    rows = list(
        closing.values("grade").annotate(n=Count("pk"), scored=Count("score"), total=Sum("score"))
    )
    hosts = sum(r["scored"] for r in rows)
    mean = sum(r["total"] or 0 for r in rows) / hosts if hosts else None
    grades = {r["grade"]: r["n"] for r in rows}
    return (None if mean is None else round(float(mean), 1)), hosts, grades


def build_report(
    kind: str,
    team: str = "",
    today: date | None = None,
    access: AccessScope | None = None,
    period: Period | None = None,
) -> Report:
    """The `period` asked for, by default the last complete `kind` period (week, month,
    quarter) as of `today`, over the hosts `access` sees (default: every host; a worker
    passes the subscriber's). Every list is the period's: findings opened or resolved
    within it, criticals open at its end, not today's.

    Headline score: the mean over hosts of each host's last daily score in the period,
    so a host scanned only early in the period still counts; compared with the same
    figure for the previous period."""
    period = period or last_complete(kind, today or timezone.localdate())
    scope = Scope.within(access or AccessScope.everything(), team=team)
    score, hosts, grades = _closing(scope, period)
    previous, _hosts, _grades = _closing(scope, period.previous())
    totals = queries.findings_totals(scope, period.start, period.last_day)
    start, end = day_start(period.start), day_start(period.end)
    firsts = periodlists.first_scans(scope, start, end)
    baselines = periodlists.baselines(firsts)
    # The flow rollup counts a first scan's findings as opened; told apart here. Clamped:
    # the rollup files them under the labels of that day, the baseline under today's.
    opened = max(totals["opened"] - sum(b.findings for b in baselines), 0)
    top = [
        RuleLine(r["rule_id"], rule_title(r["rule_id"]), r["severity"], r["hosts"])
        for r in queries.failing_at_end(scope, period.last_day, limit=10)
    ]
    return Report(
        period=period,
        team=team,
        score=score,
        previous_score=previous,
        hosts=hosts,
        grades=[(g, grades.get(g, 0)) for g in GRADE_LETTERS],
        top_rules=top,
        opened=opened,
        resolved=totals["resolved"],
        mttr=queries.mttr(scope, period.start, period.last_day),
        criticals=periodlists.criticals_open_at(scope, end),
        baselines=baselines,
        opened_list=periodlists.opened_in(scope, start, end, firsts),
        resolved_list=periodlists.resolved_in(scope, start, end),
        series=queries.fleet_series(scope, period.start, period.last_day),
        vulnerabilities=history.figures(
            None if scope.whole_fleet else scope.hosts(),
            since=start,
            until=end,
        ),
        teams=None if team else scope.teams,
        refused=scope.refused,
    )


def cached_report(
    kind: str, team: str, access: AccessScope, period: Period | None = None
) -> Report:
    """build_report for the page, kept POSTURE_TRENDS_CACHE_SECONDS per account scope,
    period, team and language, as the trends page keeps its figures. A report covers a
    finished period, yet its lists (findings opened and resolved in it, first scans told
    apart as baselines) cost ~90 ms of SQL at 1,000 hosts and 300,000 findings: measured
    past the 150 ms page budget (docs/BENCHMARKS.md, issue 17) when a manager and their
    team open the same month again and again. Mail is built fresh (build_report)."""
    seconds = settings.POSTURE_TRENDS_CACHE_SECONDS
    if seconds <= 0:
        return build_report(kind, team, access=access, period=period)
    raw = json.dumps(
        [
            translation.get_language(),
            timezone.localdate().isoformat(),
            kind,
            team,
            period.key if period else "",
        ]
    )
    key = f"report:{access.key}:" + hashlib.sha256(raw.encode()).hexdigest()
    found: Report | None = cache.get(key)
    if found is None:
        found = build_report(kind, team, access=access, period=period)
        cache.set(key, found, seconds)
    return found

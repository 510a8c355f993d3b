"""A period's report: what the report page shows and the scheduled email sends."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Count, Sum
from django.utils import timezone

from access.scope import Scope as AccessScope
from findings.models import Finding
from rules.scoring import GRADE_LETTERS
from trends import queries
from trends.dashboard import rule_title
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
    opened: int
    resolved: int
    mttr: list[queries.Remediation]
    criticals: list[Finding]
    series: list[queries.DayPoint] = field(default_factory=list)
    # Image vulnerabilities: open at the time of the report, time-to-fix within the period.
    vulnerabilities: list[history.SeverityFigures] = field(default_factory=list)
    # The teams a scoped account's report covers when no one team was asked for (None:
    # the whole fleet), and whether the team asked for is outside the account's teams.
    teams: tuple[str, ...] | None = None
    refused: bool = False

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
    kind: str, team: str = "", today: date | None = None, access: AccessScope | None = None
) -> Report:
    """The last complete `kind` period (week, month, quarter) as of `today`, over the
    hosts `access` sees (default: every host; a worker passes the subscriber's).

    Headline score: the mean over hosts of each host's last daily score in the period,
    so a host scanned only early in the period still counts; compared with the same
    figure for the previous period."""
    period = last_complete(kind, today or timezone.localdate())
    scope = Scope.within(access or AccessScope.everything(), team=team)
    score, hosts, grades = _closing(scope, period)
    previous, _hosts, _grades = _closing(scope, period.previous())
    totals = queries.findings_totals(scope, period.start, period.last_day)
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
        opened=totals["opened"],
        resolved=totals["resolved"],
        mttr=queries.mttr(scope, period.start, period.last_day),
        criticals=queries.oldest_criticals(scope),
        series=queries.fleet_series(scope, period.start, period.last_day),
        vulnerabilities=history.figures(
            None if scope.whole_fleet else scope.hosts(),
            since=day_start(period.start),
            until=day_start(period.last_day + timedelta(days=1)),
        ),
        teams=None if team else scope.teams,
        refused=scope.refused,
    )

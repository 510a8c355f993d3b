"""The report page's choices: which period and team a request asks for, which it may ask
for, and what is wrong with it, in words shown beside the field."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.utils.translation import gettext as _

from access.scope import Scope as AccessScope
from trends import periods
from trends.filters import ReportFilters
from trends.periodlists import first_data_day
from trends.periods import Period, PeriodError
from trends.scope import Scope, label_values


@dataclass(frozen=True)
class Choice:
    key: str
    label: str


@dataclass
class ReportPick:
    period: Period | None  # None when the request is refused
    first_day: date | None  # the first day with data in the account's scope
    periods: list[Choice]  # the complete periods of the kind since first_day, newest first
    teams: list[str]  # the team label values in the account's scope
    errors: dict[str, str] = field(default_factory=dict)  # field name -> message

    @property
    def options(self) -> list[Choice]:
        """The picker's choices, with the period shown even when it has no data (before
        the first day): a select must be able to show what the page is about."""
        if self.period is None or any(c.key == self.period.key for c in self.periods):
            return self.periods
        return [Choice(self.period.key, periods.label(self.period)), *self.periods]

    @property
    def first_period_label(self) -> str:
        first = self.first_period
        return periods.label(first) if first else ""

    @property
    def first_period(self) -> Period | None:
        """The first complete period with data, the empty state's link; None while the
        period holding the first day is still running."""
        if self.period is None or self.first_day is None:
            return None
        first = periods.containing(self.period.kind, self.first_day)
        return first if self.periods and first.key == self.periods[-1].key else None


def team_error(team: str, teams: list[str], access: AccessScope) -> str:
    """Why `team` cannot be reported on, or "": one of the account's teams that hosts
    carry today. A typo must not read as a team with nothing to report."""
    if not team or team in teams:
        return ""
    if Scope.within(access, team=team).refused:
        return _("Team %(team)s is not one of your teams.") % {"team": team}
    return _("No host has the team %(team)s. Choose one of the teams in the list.") % {"team": team}


def pick(filters: ReportFilters, access: AccessScope, today: date) -> ReportPick:
    """Two statements: the team label values and the first day with data."""
    teams = label_values("team", Scope.within(access))
    first_day = first_data_day(Scope.within(access, team=filters.team))
    available = periods.available(filters.period, first_day, today)
    choices = [Choice(p.key, periods.label(p)) for p in available]
    errors = {}
    period: Period | None = periods.last_complete(filters.period, today)
    if filters.start:
        try:
            period = periods.parse(filters.period, filters.start, today)
        except PeriodError as error:
            errors["start"] = str(error)
            period = None
    if message := team_error(filters.team, teams, access):
        errors["team"] = message
        period = None
    return ReportPick(period, first_day, choices, teams, errors)

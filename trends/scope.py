"""Which hosts a trend or report covers: label filters on team and env, within the teams
the account may see (access.scope): the filters can only narrow what the account sees."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from django.db.models import QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone

from access.scope import Scope as AccessScope
from hosts.models import Host


@dataclass(frozen=True)
class Scope:
    team: str = ""
    env: str = ""
    # The team label values the account may see; None: every host, team or none.
    teams: tuple[str, ...] | None = None

    @classmethod
    def within(cls, access: AccessScope, team: str = "", env: str = "") -> Scope:
        """The filters narrowed to what `access` sees. A team outside it gives an empty
        scope (no host, no rollup row), never another team's figures."""
        if access.all_hosts:
            return cls(team, env)
        if team:
            # The team filter alone is the narrower condition when the team is allowed.
            return cls(team, env, None if access.allows_team(team) else ())
        return cls(team, env, access.teams)

    @property
    def whole_fleet(self) -> bool:
        return not (self.team or self.env) and self.teams is None

    @property
    def refused(self) -> bool:
        """A team was asked for that the account may not see."""
        return self.teams == () and bool(self.team)

    def hosts(self) -> QuerySet[Host]:
        qs = Host.objects.all()
        if self.teams is not None:
            qs = qs.alias(label_teams=label_text("team")).filter(label_teams__in=self.teams)
        for key, value in (("team", self.team), ("env", self.env)):
            if value:
                # The key's text compared as text: portable between SQLite and PostgreSQL
                # JSON, and a value from the URL is never parsed as a lookup.
                qs = qs.alias(**{f"label_{key}": label_text(key)}).filter(**{f"label_{key}": value})
        return qs

    def apply(self, qs: QuerySet[Any], field: str = "host") -> QuerySet[Any]:
        if self.whole_fleet:
            return qs
        return qs.filter(**{f"{field}__in": self.hosts().values("pk")})

    def apply_labels(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        """Scope a rollup (DailyFindingFlow, DailyRuleFailing) on its own team and env
        columns: the labels its hosts had when the day was rolled, no host join."""
        values: dict[str, Any] = {k: v for k, v in (("team", self.team), ("env", self.env)) if v}
        if self.teams is not None:
            values["team__in"] = self.teams
        return qs.filter(**values) if values else qs


def label_text(key: str, field: str = "labels") -> Cast:
    """A label's value as text, as Scope compares it (and as hosts' expression indexes
    host_label_team_idx / host_label_env_idx store it)."""
    return Cast(KeyTextTransform(key, field), output_field=TextField())


def label_values(key: str, scope: Scope | None = None) -> list[str]:
    """Distinct values of one label across the hosts of `scope` (default: the fleet), for
    the filter menus: a team-scoped account is not shown the names of other teams."""
    hosts = scope.hosts() if scope is not None else Host.objects.all()
    values = (
        hosts.annotate(value=label_text(key))
        .filter(value__isnull=False)
        .exclude(value="")
        .values_list("value", flat=True)
        .distinct()
        .order_by("value")
    )
    return list(values)


def day_start(day: date) -> datetime:
    """Midnight opening `day` in TIME_ZONE: days in charts and reports are local days."""
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())

"""Which hosts an account sees: all of them, or those whose `team` label is one of its teams.

A team maps to one value of the hosts' `team` label, the same label the trends rollups
are kept by (trends.scope), so that a team's charts come from the same rows as the fleet's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db.models import Q, QuerySet

TEAM_LABEL = "team"

M = TypeVar("M", bound=QuerySet[Any])


@dataclass(frozen=True)
class Scope:
    all_hosts: bool
    teams: tuple[str, ...] = ()  # values of the `team` label, sorted

    @classmethod
    def everything(cls) -> Scope:
        return cls(all_hosts=True)

    @classmethod
    def of_teams(cls, teams: list[str] | tuple[str, ...]) -> Scope:
        return cls(all_hosts=False, teams=tuple(sorted(set(teams))))

    @property
    def key(self) -> str:
        """A short stable name for caches: every cached figure is kept per scope."""
        if self.all_hosts:
            return "all"
        return "t-" + hashlib.sha256("\0".join(self.teams).encode()).hexdigest()[:16]

    def host_q(self, prefix: str = "") -> Q:
        """The condition on a Host (prefix "" ) or on a row related to one ("host__")."""
        if self.all_hosts:
            return Q()
        if not self.teams:
            return Q(pk__in=[]) if not prefix else Q(**{f"{prefix}pk__in": []})
        return Q(**{f"{prefix}labels__{TEAM_LABEL}__in": list(self.teams)})

    def filter(self, queryset: M, prefix: str = "") -> M:
        return queryset if self.all_hosts else queryset.filter(self.host_q(prefix))

    def allows_labels(self, labels: Mapping[str, Any] | None) -> bool:
        if self.all_hosts:
            return True
        value = (labels or {}).get(TEAM_LABEL)
        return isinstance(value, str) and value in self.teams

    def allows_team(self, team: str) -> bool:
        return self.all_hosts or team in self.teams

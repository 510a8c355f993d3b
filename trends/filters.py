"""The trends and report pages' filters, read from GET parameters so every view is a
shareable URL. Frozen and plain: the trends page caches its context per astuple(filters)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from posture.lib.filters import LenientQuery, QueryFilters
from trends.periods import KINDS

RANGES = (30, 90, 365)
DEFAULT_RANGE = 90
DEFAULT_PERIOD = "week"


@dataclass(frozen=True)
class TrendFilters(QueryFilters):
    team: str = ""
    env: str = ""
    days: int = DEFAULT_RANGE
    rule: str = ""

    @classmethod
    def from_query(cls, params: Mapping[str, Any]) -> TrendFilters:
        """Lenient, like the fleet filters: an unknown range falls back to the default."""
        read = LenientQuery(params)
        return cls(
            team=read.text("team", 255),
            env=read.text("env", 255),
            days=read.number("days", RANGES, DEFAULT_RANGE),
            rule=read.text("rule", 64),
        )

    @property
    def active(self) -> bool:
        return bool(self.team or self.env or self.rule or self.days != DEFAULT_RANGE)

    def params(self) -> dict[str, Any]:
        return {
            "team": self.team,
            "env": self.env,
            "days": "" if self.days == DEFAULT_RANGE else self.days,
            "rule": self.rule,
        }


@dataclass(frozen=True)
class ReportFilters(QueryFilters):
    """The report page's ?period=week|month|quarter&start=2026-11&team=. `start` is kept
    as typed: the view checks it (trends.periods.parse) so a bad value is answered with
    an error a person sees, not silently replaced by another period."""

    period: str = DEFAULT_PERIOD
    team: str = ""
    start: str = ""

    @classmethod
    def from_query(cls, params: Mapping[str, Any]) -> ReportFilters:
        read = LenientQuery(params)
        return cls(
            period=read.choice("period", KINDS, DEFAULT_PERIOD),
            team=read.text("team", 255),
            start=read.text("start", 32),
        )

    def params(self) -> dict[str, Any]:
        return {"period": self.period, "start": self.start, "team": self.team}

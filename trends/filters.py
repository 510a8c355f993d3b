"""The trends page's filters, read from GET parameters so every view is a shareable URL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

RANGES = (30, 90, 365)
DEFAULT_RANGE = 90


@dataclass(frozen=True)
class TrendFilters:
    team: str = ""
    env: str = ""
    days: int = DEFAULT_RANGE
    rule: str = ""

    @classmethod
    def from_query(cls, params: Mapping[str, Any]) -> TrendFilters:
        """Lenient, like the fleet filters: an unknown range falls back to the default."""
        try:
            days = int(params.get("days", DEFAULT_RANGE))
        except (TypeError, ValueError):
            days = DEFAULT_RANGE
        return cls(
            team=str(params.get("team", "")).strip()[:255],
            env=str(params.get("env", "")).strip()[:255],
            days=days if days in RANGES else DEFAULT_RANGE,
            rule=str(params.get("rule", "")).strip()[:64],
        )

    @property
    def active(self) -> bool:
        return bool(self.team or self.env or self.rule or self.days != DEFAULT_RANGE)

    def query_string(self, **changes: Any) -> str:
        params: dict[str, Any] = {
            "team": self.team,
            "env": self.env,
            "days": "" if self.days == DEFAULT_RANGE else self.days,
            "rule": self.rule,
        }
        params.update(changes)
        kept = {k: v for k, v in params.items() if v}
        return "?" + urlencode(kept) if kept else "?"

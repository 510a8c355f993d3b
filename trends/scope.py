"""Which hosts a trend or report covers: label filters on team and env."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from django.db.models import QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone

from hosts.models import Host


@dataclass(frozen=True)
class Scope:
    team: str = ""
    env: str = ""

    @property
    def whole_fleet(self) -> bool:
        return not (self.team or self.env)

    def hosts(self) -> QuerySet[Host]:
        qs = Host.objects.all()
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
        values = {k: v for k, v in (("team", self.team), ("env", self.env)) if v}
        return qs.filter(**values) if values else qs


def label_text(key: str, field: str = "labels") -> Cast:
    """A label's value as text, as Scope compares it (and as hosts' expression indexes
    host_label_team_idx / host_label_env_idx store it)."""
    return Cast(KeyTextTransform(key, field), output_field=TextField())


def label_values(key: str) -> list[str]:
    """Distinct values of one label across the fleet, for the filter menus."""
    values = (
        Host.objects.annotate(value=label_text(key))
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

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
                text = Cast(KeyTextTransform(key, "labels"), output_field=TextField())
                qs = qs.alias(**{f"label_{key}": text}).filter(**{f"label_{key}": value})
        return qs

    def apply(self, qs: QuerySet[Any], field: str = "host") -> QuerySet[Any]:
        if self.whole_fleet:
            return qs
        return qs.filter(**{f"{field}__in": self.hosts().values("pk")})


def label_values(key: str) -> list[str]:
    """Distinct values of one label across the fleet, for the filter menus."""
    text = Cast(KeyTextTransform(key, "labels"), output_field=TextField())
    values = (
        Host.objects.annotate(value=text)
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

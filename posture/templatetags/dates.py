"""`{% load dates %}` then `{{ day|local_date:"DATE_FORMAT" }}`: posture.lib.dates in templates."""

from __future__ import annotations

from datetime import date

from django import template

from posture.lib.dates import local_date as _local_date

register = template.Library()


@register.filter
def local_date(value: date | None, fmt: str = "DATE_FORMAT") -> str:
    return "" if value is None else _local_date(value, fmt)

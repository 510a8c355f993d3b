"""Report periods: ISO weeks, calendar months and quarters, as half-open date ranges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

KINDS = ("week", "month", "quarter")


@dataclass(frozen=True)
class Period:
    kind: str
    start: date  # first day
    end: date  # first day after

    @property
    def key(self) -> str:
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        if self.kind == "month":
            return f"{self.start:%Y-%m}"
        return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def previous(self) -> Period:
        return containing(self.kind, self.start - timedelta(days=1))


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def containing(kind: str, day: date) -> Period:
    if kind == "week":
        start = day - timedelta(days=day.weekday())
        return Period(kind, start, start + timedelta(days=7))
    if kind == "month":
        start = day.replace(day=1)
        return Period(kind, start, _add_months(start, 1))
    if kind == "quarter":
        start = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
        return Period(kind, start, _add_months(start, 3))
    raise ValueError(f"unknown period {kind!r}")


def last_complete(kind: str, today: date) -> Period:
    """The latest period that has ended by `today`: on a Monday, last week; on the 1st,
    last month. This is what a report describes and what a subscription is sent for."""
    return containing(kind, today).previous()

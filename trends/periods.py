"""Report periods: ISO weeks, calendar months and quarters, as half-open date ranges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.utils.translation import gettext as _

from posture.lib.dates import local_date

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


class PeriodError(ValueError):
    """A period asked for in a URL that cannot be reported on; the message says why, in
    words a person can act on."""


def _parse_start(text: str) -> tuple[str, date] | None:
    """The kind and first day of a period key ("2026-W45", "2026-11", "2026-Q4"), or None."""
    year, sep, rest = text.partition("-")
    if not (sep and year.isdigit() and len(year) == 4 and rest):
        return None
    try:
        if rest[0] in "Ww" and rest[1:].isdigit():
            return "week", date.fromisocalendar(int(year), int(rest[1:]), 1)
        if rest[0] in "Qq" and rest[1:] in ("1", "2", "3", "4"):
            return "quarter", date(int(year), (int(rest[1:]) - 1) * 3 + 1, 1)
        if rest.isdigit() and len(rest) <= 2:
            return "month", date(int(year), int(rest), 1)
    except ValueError:  # week 54, month 13, year 0
        return None
    return None


EXAMPLES = {"week": "2026-W45", "month": "2026-11", "quarter": "2026-Q4"}


def parse(kind: str, text: str, today: date) -> Period:
    """The complete `kind` period that `text` names. The key of another kind is accepted
    and read as the `kind` period containing its first day: switching the picker from
    months to weeks keeps the reader near the same time instead of failing."""
    found = _parse_start(text.strip())
    if found is None:
        raise PeriodError(
            _("“%(value)s” is not a %(kind)s. Write it as %(example)s.")
            % {"value": text, "kind": kind_name(kind), "example": EXAMPLES[kind]}
        )
    period = containing(kind, found[1])
    if period.end > today and found[0] != kind:
        # Switching kinds from a recent period (November to "quarter" in December) lands
        # on a running period: the newest complete one is what the reader is after.
        return last_complete(kind, today)
    if period.end > today:
        raise PeriodError(
            _("%(period)s is not over yet: its report can be read from %(day)s.")
            % {"period": label(period), "day": _day(period.end)}
        )
    return period


def available(kind: str, first_day: date | None, today: date) -> list[Period]:
    """The complete periods of `kind` from the one holding `first_day` (the first day with
    data) to the last one, newest first: the choices of the report's period picker."""
    if first_day is None:
        return []
    newest = last_complete(kind, today)
    periods: list[Period] = []
    period = newest
    while period.end > first_day and len(periods) < 520:  # ten years of weeks at most
        periods.append(period)
        period = period.previous()
    return periods


def kind_name(kind: str) -> str:
    return {"week": _("week"), "month": _("month"), "quarter": _("quarter")}[kind]


def _day(day: date) -> str:
    return local_date(day, "DATE_FORMAT")


def label(period: Period) -> str:
    """How a person names the period, in the interface's language: "November 2026",
    "week 45 of 2026 (2 Nov – 8 Nov)", "Q4 2026"."""
    if period.kind == "month":
        return local_date(period.start, "YEAR_MONTH_FORMAT")
    if period.kind == "quarter":
        return _("Q%(n)s %(year)s") % {
            "n": (period.start.month - 1) // 3 + 1,
            "year": period.start.year,
        }
    year, week, _weekday = period.start.isocalendar()
    return _("week %(week)s of %(year)s (%(first)s – %(last)s)") % {
        "week": week,
        "year": year,
        "first": local_date(period.start, "MONTH_DAY_FORMAT"),
        "last": local_date(period.last_day, "MONTH_DAY_FORMAT"),
    }

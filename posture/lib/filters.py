"""What every filtered table shares: filters read leniently from the query string, written
back as links (query strings, pager links, sort links), in one small base.

Why not django-filter's FilterSet (NetBox's choice): Posture's filters are frozen dataclasses
read leniently from the query string (an unknown or malformed value is dropped, never an
error), then used as plain values: as subquery builders by the fleet, drill-down and export
pages (`hosts_matching(filters)`) and as cache keys by the trends page (`astuple(filters)`). A
FilterSet binds a form on every request, answers a bad value with a form error, and is
neither hashable nor comparable; fitting it here would change those semantics and add a
dependency for what is some forty lines.

A table's filter class is a frozen dataclass deriving from QueryFilters. It declares:
- SORTS (the column names it sorts by), DESCENDING_FIRST (those whose first click sorts
  "most first") and DEFAULT_SORT;
- params(): its parameters as they go into a link, a default written as "" (left out);
- from_query(): built with a LenientQuery, so every page reads parameters the same way.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from posture.lib import paging

__all__ = ["Labels", "LenientQuery", "QueryFilters", "label_strings"]

Labels = tuple[tuple[str, str | None], ...]

# At most this many ?label= filters are read; more would only make the query longer.
MAX_LABELS = 10


def label_strings(labels: Labels) -> list[str]:
    """("env", "prod") as "env=prod", ("team", None) as "team": the ?label= values again."""
    return [k if v is None else f"{k}={v}" for k, v in labels]


class LenientQuery:
    """GET parameters read leniently: a missing, unknown or malformed value is the default."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = params

    def getlist(self, name: str) -> list[Any]:
        getlist = getattr(self.params, "getlist", None)
        if getlist is not None:
            return list(getlist(name))
        return [self.params[name]] if name in self.params else []

    def raw(self, name: str, default: str = "") -> str:
        return str(self.params.get(name, default))

    def text(self, name: str, max_length: int) -> str:
        """Free text (a search, a label value), stripped and cut to max_length."""
        return self.raw(name).strip()[:max_length]

    def choice(self, name: str, allowed: Collection[str], default: str = "") -> str:
        """One of `allowed`, compared as given (not stripped), or the default."""
        value = self.raw(name, default)
        return value if value in allowed else default

    def number(self, name: str, allowed: Collection[int], default: int) -> int:
        try:
            value = int(self.params.get(name, default))
        except (TypeError, ValueError):
            return default
        return value if value in allowed else default

    def sort(self, sorts: Collection[str], default: str) -> str:
        """A column of `sorts`, "-" before it for the reverse order, or the default."""
        value = self.raw("sort", default)
        return value if value.removeprefix("-") in sorts else default

    def labels(self) -> Labels:
        """?label=k=v (the label's value is v) and ?label=k (the label is present), the
        fleet page's filters; blank keys are dropped."""
        labels: list[tuple[str, str | None]] = []
        for raw in self.getlist("label"):
            key, sep, value = str(raw).partition("=")
            if key.strip():
                labels.append((key.strip(), value.strip() if sep else None))
        return tuple(labels[:MAX_LABELS])


@dataclass(frozen=True)
class QueryFilters:
    """The links of a filtered, sorted and paged table. No fields of its own: subclasses'
    fields are their whole state, so astuple() and equality see only them."""

    SORTS: ClassVar[Collection[str]] = ()
    # Columns whose useful first click is "most first" (most failing, newest).
    DESCENDING_FIRST: ClassVar[Collection[str]] = frozenset()
    DEFAULT_SORT: ClassVar[str] = ""

    def params(self) -> dict[str, Any]:
        """This filter set's parameters in link order; a default value as ""."""
        raise NotImplementedError

    def sort_param(self, sort: str) -> str:
        """The ?sort= value of the current order: none for the default."""
        return "" if sort == self.DEFAULT_SORT else sort

    def query_string(self, **changes: Any) -> str:
        """This filter set as "?q=..&label=..", with some parameters replaced."""
        params = self.params()
        params.update(changes)
        return paging.query(params)

    def page_url(self, number: int) -> str:
        return self.query_string(page=str(number) if number > 1 else "")

    def sort_urls(self) -> dict[str, str]:
        """Per column, the link that sorts by it: its first direction, then the reverse.
        Like the filter form, it drops the page number: page 3 of another order or another
        selection is not the same rows, so a new sort or filter starts on page 1."""
        current = getattr(self, "sort", self.DEFAULT_SORT)
        urls = {}
        for column in self.SORTS:
            first = f"-{column}" if column in self.DESCENDING_FIRST else column
            second = first.removeprefix("-") if first.startswith("-") else f"-{first}"
            urls[column] = self.query_string(sort=second if current == first else first)
        return urls

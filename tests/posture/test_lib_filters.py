"""posture.lib.filters: how every table reads its filters and writes its links."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, astuple, dataclass
from typing import Any

import pytest
from django.http import QueryDict

from findings import drilldown, export, selection
from findings.views import rules
from posture.lib.filters import MAX_LABELS, LenientQuery, QueryFilters, label_strings
from trends import filters as trend_filters


@dataclass(frozen=True)
class Shelf(QueryFilters):
    """A table of books, sortable by title (A first) and by year (newest first)."""

    SORTS = ("title", "year")
    DESCENDING_FIRST = frozenset({"year"})
    DEFAULT_SORT = "title"

    q: str = ""
    labels: tuple[tuple[str, str | None], ...] = ()
    sort: str = "title"

    @classmethod
    def from_query(cls, params: Any) -> Shelf:
        read = LenientQuery(params)
        return cls(read.text("q", 20), read.labels(), read.sort(cls.SORTS, cls.DEFAULT_SORT))

    def params(self) -> dict[str, Any]:
        return {
            "q": self.q,
            "label": label_strings(self.labels),
            "sort": self.sort_param(self.sort),
        }


def shelf(query: str) -> Shelf:
    return Shelf.from_query(QueryDict(query))


# --- Reading -----------------------------------------------------------------------------


def test_labels_are_key_value_or_key_alone() -> None:
    read = LenientQuery(QueryDict("label=env=prod&label= team &label==x&label=&label=a=b=c"))
    assert read.labels() == (("env", "prod"), ("team", None), ("a", "b=c"))


def test_at_most_ten_labels_are_read() -> None:
    query = "&".join(f"label=k{i}=v" for i in range(MAX_LABELS + 5))
    assert len(LenientQuery(QueryDict(query)).labels()) == MAX_LABELS


def test_a_plain_mapping_reads_like_a_querydict() -> None:
    read = LenientQuery({"label": "env=prod", "q": " x "})
    assert read.labels() == (("env", "prod"),)
    assert read.getlist("missing") == []
    assert read.text("q", 10) == "x"


@pytest.mark.parametrize(
    "query, expected",
    [
        ("", Shelf()),
        ("q=%20%20dune%20&sort=-year", Shelf(q="dune", sort="-year")),
        ("sort=bogus", Shelf()),
        ("sort=--year", Shelf()),
        ("q=" + "x" * 50, Shelf(q="x" * 20)),
    ],
)
def test_unknown_or_malformed_values_fall_back_to_the_default(query: str, expected: Shelf) -> None:
    assert shelf(query) == expected


def test_choice_and_number_are_lenient() -> None:
    read = LenientQuery(QueryDict("status=ok&kind=%20ok&days=abc&range=30"))
    assert read.choice("status", ("ok",)) == "ok"
    assert read.choice("kind", ("ok",)) == ""  # compared as given
    assert read.number("days", (30, 90), 90) == 90
    assert read.number("range", (30, 90), 90) == 30


# --- Writing -----------------------------------------------------------------------------


def test_query_string_leaves_defaults_out_and_repeats_labels() -> None:
    filters = Shelf(q="dune", labels=(("env", "prod"), ("team", None)))
    assert filters.query_string() == "?q=dune&label=env%3Dprod&label=team"
    assert filters.query_string(q="") == "?label=env%3Dprod&label=team"
    assert Shelf().query_string() == "?"  # keeps the path, drops every parameter
    assert Shelf(sort="-title").query_string() == "?sort=-title"


def test_page_url_leaves_page_one_out() -> None:
    assert Shelf(q="x").page_url(1) == "?q=x"
    assert Shelf(q="x").page_url(3) == "?q=x&page=3"


def test_sort_links_go_first_direction_then_reverse_and_drop_the_page() -> None:
    assert Shelf().sort_urls() == {"title": "?sort=-title", "year": "?sort=-year"}
    assert Shelf(sort="-title").sort_urls() == {"title": "?sort=title", "year": "?sort=-year"}
    assert Shelf(sort="-year").sort_urls()["year"] == "?sort=year"
    assert Shelf(sort="year").sort_urls()["year"] == "?sort=-year"
    assert "page" not in shelf("q=x&page=4").sort_urls()["title"]


def test_filters_are_values() -> None:
    """Frozen and compared by value: the trends page caches its figures per filter set."""
    filters = shelf("q=dune")
    with pytest.raises(FrozenInstanceError):
        filters.q = "x"  # type: ignore[misc]
    assert filters == shelf("q=dune") and hash(filters) == hash(shelf("q=dune"))
    assert astuple(trend_filters.TrendFilters(team="a")) == ("a", "", 90, "")


# --- The tables' own filters --------------------------------------------------------------


def test_every_table_filter_uses_the_base_and_no_two_share_a_name() -> None:
    classes = [
        selection.FleetFilters,
        drilldown.FindingFilters,
        export.ExportFilters,
        rules.RuleFilters,
        trend_filters.TrendFilters,
        trend_filters.ReportFilters,
    ]
    assert all(issubclass(cls, QueryFilters) for cls in classes)
    assert len({cls.__name__ for cls in classes}) == len(classes)
    for cls in classes:
        assert "sort_urls" not in vars(cls) and "query_string" not in vars(cls)


def test_fleet_links() -> None:
    filters = selection.FleetFilters.from_query(
        QueryDict("q=web&label=env=prod&status=failing&grade=c&sort=-score&page=3")
    )
    assert filters.grade == "C"
    base = "?q=web&label=env%3Dprod&status=failing&grade=C"
    assert filters.sort_urls() == {
        "name": f"{base}&sort=name",
        "score": f"{base}&sort=score",
        "failing": f"{base}&sort=-failing",
        "last_scan": f"{base}&sort=-last_scan",
    }
    assert filters.page_url(2) == f"{base}&sort=-score&page=2"


def test_drilldown_links_keep_the_page_parameters() -> None:
    filters = drilldown.FindingFilters.from_query(
        QueryDict("q=x&label=env=prod&severity=high&kind=nope&sort=-opened"),
        fixed=(("name", "web"),),
    )
    assert filters.kind == ""
    assert filters.query_string() == "?name=web&q=x&label=env%3Dprod&severity=high&sort=-opened"
    assert (
        filters.sort_urls()["opened"] == "?name=web&q=x&label=env%3Dprod&severity=high&sort=opened"
    )
    # A sort link names its order even when it is the default one, as it always did.
    assert filters.sort_urls()["host"] == "?name=web&q=x&label=env%3Dprod&severity=high&sort=host"
    assert filters.cleared() == "?name=web&sort=-opened"
    assert filters.with_label("env", "prod") == filters.query_string()


def test_export_filters_read_the_fleet_filters_and_more() -> None:
    filters = export.ExportFilters.from_query(
        QueryDict("label=team=a&rule=CTR-PRIVILEGED&severity=high&severity=critical&severity=x")
    )
    assert filters.hosts.labels == (("team", "a"),)
    assert [s.label for s in filters.severities] == ["critical", "high"]
    assert filters.query_string() == (
        "?label=team%3Da&rule=CTR-PRIVILEGED&severity=critical&severity=high"
    )
    assert export.ExportFilters.from_query(QueryDict("rule=" + "a" * 65)).rule == ""


def test_rule_catalogue_links() -> None:
    filters = rules.RuleFilters.from_query(QueryDict("q=tls&sort=-severity&scope=nope"))
    assert filters.scope == ""
    assert filters.sort_urls()["severity"] == "?q=tls&sort=severity"
    assert filters.sort_urls()["id"] == "?q=tls&sort=id"
    assert filters.query_string() == "?q=tls&sort=-severity"


def test_trend_and_report_filters() -> None:
    filters = trend_filters.TrendFilters.from_query(QueryDict("team=%20a%20&days=30&rule=R1"))
    assert filters == trend_filters.TrendFilters(team="a", days=30, rule="R1")
    assert filters.query_string(rule="") == "?team=a&days=30"
    assert trend_filters.TrendFilters.from_query(QueryDict("days=31")).days == 90
    report = trend_filters.ReportFilters.from_query(QueryDict("period=year&team=%20b"))
    assert report == trend_filters.ReportFilters(period="week", team="b")

"""Trends and report pages. Thin: parse GET parameters, call trends.dashboard or
trends.reports, render; the filtered part is an inline partial swapped by htmx."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET
from django_htmx.middleware import HtmxDetails

from trends import charts
from trends.dashboard import cached_trends_context, short_day
from trends.filters import TrendFilters
from trends.periods import KINDS
from trends.reports import Report, build_report
from trends.scope import label_values


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _fragment(request: HtmxHttpRequest) -> bool:
    # Same rule as the fleet page: boosted and history-restore requests want the page.
    htmx = request.htmx
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


@require_GET
def trends(request: HtmxHttpRequest) -> HttpResponse:
    template = "trends/trends.html"
    if _fragment(request):
        template += "#trends-body"
    return render(request, template, cached_trends_context(TrendFilters.from_query(request.GET)))


def report_charts(report: Report) -> dict[str, charts.Chart]:
    return {
        "score_chart": charts.line_chart(
            "report-score",
            _("Fleet score during the period"),
            _("Daily mean of each host's last score of the day."),
            [short_day(p.day) for p in report.series],
            [charts.Series(_("Fleet score"), [p.mean for p in report.series])],
            y_max=100,
        ),
        "grade_chart": charts.bar_chart(
            "report-grades",
            _("Hosts per grade at the end of the period"),
            _("Number of hosts with each grade, from each host's last score of the period."),
            [grade for grade, _n in report.grades],
            [charts.Series(_("Hosts"), [n for _grade, n in report.grades])],
        ),
    }


@require_GET
def report(request: HtmxHttpRequest) -> HttpResponse:
    kind = str(request.GET.get("period", "week"))
    kind = kind if kind in KINDS else "week"
    team = str(request.GET.get("team", "")).strip()[:255]
    result = build_report(kind, team)
    template = "trends/report.html"
    if _fragment(request):
        template += "#report-body"
    context = {
        "report": result,
        "kind": kind,
        "kinds": KINDS,
        "team": team,
        "teams": label_values("team"),
        **report_charts(result),
    }
    return render(request, template, context)

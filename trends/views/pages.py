"""Trends and report pages. Thin: parse GET parameters, call trends.dashboard or
trends.reports, render; the filtered part is an inline partial swapped by htmx."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from access.policy import allow
from access.roles import Perm
from access.services import request_access
from posture.lib.htmx import HtmxHttpRequest, fragment_requested, render_page
from trends import charts
from trends.dashboard import cached_trends_context, short_day
from trends.filters import ReportFilters, TrendFilters
from trends.periods import KINDS
from trends.picker import pick
from trends.reports import Report, cached_report


@allow(Perm.VIEW)
@require_GET
def trends(request: HtmxHttpRequest) -> HttpResponse:
    filters = TrendFilters.from_query(request.GET)
    context = cached_trends_context(filters, request_access(request).scope)
    return render_page(request, "trends/trends.html", "trends-body", context)


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


@allow(Perm.VIEW)
@require_GET
def report(request: HtmxHttpRequest) -> HttpResponse:
    filters = ReportFilters.from_query(request.GET)
    access = request_access(request).scope
    chosen = pick(filters, access, timezone.localdate())
    context = {
        "filters": filters,
        "pick": chosen,
        "kind": filters.period,
        "kinds": KINDS,
        "team": filters.team,
        "teams": chosen.teams,
    }
    if chosen.period is None:
        # A bad period or team is answered as a refused form: the picker with the reason
        # beside the field (htmx swaps 422 in place; a plain request gets a 400 page).
        status = 422 if fragment_requested(request) else 400
        return render_page(request, "trends/report.html", "report-main", context, status)
    result = cached_report(filters.period, filters.team, access, chosen.period)
    context.update({"report": result, **report_charts(result)})
    return render_page(request, "trends/report.html", "report-main", context)

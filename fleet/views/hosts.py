"""Posture pages: the fleet table, a host's report, its scan status and "Scan now".

Thin views: parse the request, call fleet.queries or scans.services, render. Fragments are
declared inline in the page templates (django-template-partials) and chosen here when the
request comes from htmx, the django-htmx example app's pattern.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from access.objects import check_host
from access.policy import allow
from access.roles import Perm
from access.services import request_access
from audit.services import record
from findings import selection
from fleet import hostpage as reports
from fleet import queries
from hosts.models import Host
from posture.lib.htmx import HtmxHttpRequest, fragment_requested, render_page, render_polled
from rules.scoring import GRADE_LETTERS
from scans.models import ScanRun
from scans.services import request_scan


def severity_titles() -> dict[str, str]:
    """The tooltips of a fleet row's four failing-rule counts, translated once per response:
    four {% translate %} tags per row were a tenth of the table's render time."""
    return {"critical": _("critical"), "high": _("high"), "medium": _("medium"), "low": _("low")}


@allow(Perm.VIEW)
@require_GET
def fleet(request: HtmxHttpRequest) -> HttpResponse:
    filters = queries.FleetPageFilters.from_query(request.GET)
    scope = request_access(request).scope
    # The summary strip sits above the filters: an htmx swap of the table does not need it.
    fleet_page = queries.fleet_page(
        filters, request.GET.get("page"), scope, summary=not fragment_requested(request)
    )
    context = {
        "filters": filters,
        "fleet": fleet_page,
        "rows": fleet_page.rows,
        "counts": fleet_page.counts,
        "statuses": selection.STATUSES,
        "grades": GRADE_LETTERS,
        "severity_titles": severity_titles(),
        "summary": fleet_page.summary,
    }
    return render_page(request, "fleet/fleet.html", "fleet-table", context)


@allow(Perm.VIEW)
@require_GET
def host_detail(request: HtmxHttpRequest, name: str) -> HttpResponse:
    host = get_object_or_404(Host, name=name)
    check_host(request, host.labels, Perm.VIEW)
    context = {
        "report": reports.host_report(host),
        # A daemon's error body can describe other services on its network (a proxy's
        # page, an internal URL): shown to those who may change the host's settings, the
        # people who would act on it; others get the error class and its advice.
        "show_error_detail": request_access(request).can_on(Perm.HOST_EDIT, host.labels),
    }
    return render(request, "fleet/host_detail.html", context)


@allow(Perm.VIEW)
@require_GET
def host_status(request: HtmxHttpRequest, name: str) -> HttpResponse:
    """The status fragment; polled every 2 s while a scan is active, answered with the
    final state and HttpResponseStopPolling (286) once no scan is active any more.

    ?row=1 answers with the whole fleet-table row, so the score beside the status is fresh
    when the scan ends; otherwise with the status badge of the host page.
    """
    if request.GET.get("row"):
        row = queries.fleet_row(name, request_access(request).scope)
        if row is None:  # no such host, or not one of the account's
            raise Http404
        context = {"row": row, "severity_titles": severity_titles()}
        done = not row.status.active
        return render_polled(request, "fleet/fleet.html#fleet-row", context, done=done)
    host = get_object_or_404(Host, name=name)
    check_host(request, host.labels, Perm.VIEW)
    status, _posture = reports.current_status(host)
    # On the host page, the score and findings beside the badge are now out of date.
    on_host_page = bool(request.GET.get("reload"))
    context = {
        "host": host,
        "status": status,
        "on_host_page": on_host_page,
        "show_results_link": on_host_page and not status.active,
    }
    return render_polled(request, "fleet/status.html", context, done=not status.active)


@allow(Perm.HOST_SCAN)
@require_POST
def host_scan(request: HtmxHttpRequest, name: str) -> HttpResponse:
    host = get_object_or_404(Host, name=name)
    check_host(request, host.labels, Perm.HOST_SCAN)
    _scan, created = request_scan(host, trigger=ScanRun.Trigger.MANUAL)
    # Recorded whether or not a run was queued: the click is what the trail is about.
    record("scan.requested", request=request, target=host, details={"queued": created})
    if fragment_requested(request):
        status, _posture = reports.current_status(host)
        return render(
            request,
            "fleet/status.html",
            {
                "host": host,
                "status": status,
                "on_host_page": True,
            },
        )
    if created:
        messages.success(request, _("Scan queued."))
    else:
        messages.info(request, _("A scan of this host is already queued or running."))
    return redirect("host-detail", name=host.name)

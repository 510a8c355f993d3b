"""/vulnerabilities/: the fleet grouped by vulnerability; /vulnerabilities/<id>/: one
vulnerability, where it runs, and its triage (decisions made and revoked here).

Thin views: parse, call vulns.queries, vulns.places or vulns.forms, render in the htmx pattern
of the other list pages. An invalid triage form answers 422 to htmx with its errors, swapped in
place as on every form.
"""

from __future__ import annotations

import re

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access.policy import allow
from access.roles import Perm
from access.services import request_access
from posture.lib.htmx import HtmxHttpRequest, fragment_requested, invalid_status, render_page
from vulndb.freshness import data_status
from vulns import forms, places, queries, triage
from vulns.models import VulnDecision

# OSV ids, CVEs, GHSAs, DSA/DLA, ALPINE-CVE-…: what a vulnerability URL may name.
VULN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}")


@allow(Perm.VIEW)
@require_GET
def vulnerabilities(request: HtmxHttpRequest) -> HttpResponse:
    filters = queries.VulnFilters.from_query(request.GET)
    context = {
        "filters": filters,
        "result": queries.fleet_page(
            filters, request.GET.get("page"), scope=request_access(request).scope
        ),
        "data": data_status(),
        "severities": [s.label for s in queries.SEVERITIES],
        "can_export": request_access(request).can(Perm.EXPORT),
    }
    return render_page(request, "vulns/vulnerabilities.html", "vuln-table", context)


def _detail_page(
    request: HtmxHttpRequest, vuln: str, form: forms.VulnDecisionForm, status: int = 200
) -> HttpResponse:
    access = request_access(request)
    detail = places.vulnerability_detail(vuln, scope=access.scope)
    if detail is None:
        raise Http404
    context = {
        "detail": detail,
        # Only accounts that may triage see the form and the revoke buttons.
        "form": form if access.can(Perm.TRIAGE) else None,
        "data": data_status(),
    }
    return render_page(request, "vulns/vulnerability.html", "vuln-panel", context, status)


@allow(Perm.VIEW, write=Perm.TRIAGE)
@require_http_methods(["GET", "POST"])
def vulnerability(request: HtmxHttpRequest, vuln: str) -> HttpResponse:
    if not VULN_ID.fullmatch(vuln):
        raise Http404
    scope = request_access(request).scope
    form = forms.VulnDecisionForm(
        request.POST or None, initial=request.GET.dict() or None, scope=scope
    )
    if request.method == "POST":
        # Before the form: a vulnerability none of the account's hosts runs does not exist
        # for it, whatever the form says.
        if not places.carried(vuln, scope):
            raise Http404
        if not form.is_valid():
            return _detail_page(request, vuln, form, invalid_status(request))
        decision = forms.record(form, vuln, request.user, request=request)
        messages.success(request, _("Decision recorded: %(d)s.") % {"d": decision})
        if not fragment_requested(request):
            return redirect("vulnerability", vuln=vuln)
        form = forms.VulnDecisionForm(scope=scope)
    return _detail_page(request, vuln, form)


@allow(Perm.TRIAGE)
@require_POST
def decision_revoke(request: HtmxHttpRequest, vuln: str, pk: int) -> HttpResponse:
    scope = request_access(request).scope
    decision = get_object_or_404(VulnDecision, pk=pk, vuln=vuln)
    # As on the page: a vulnerability none of the account's hosts runs is absent for it.
    if not places.carried(vuln, scope) or not triage.visible([decision], scope):
        raise Http404
    if not triage.may_decide(scope, decision.scope, decision.scope_value):
        raise PermissionDenied
    if forms.revoke(decision, request=request):
        messages.success(request, _("Decision revoked: the vulnerability counts again."))
    if fragment_requested(request):
        return _detail_page(request, vuln, forms.VulnDecisionForm(scope=scope))
    return redirect("vulnerability", vuln=vuln)

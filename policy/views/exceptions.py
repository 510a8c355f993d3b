"""One page: every risk exception with status filters, a form to add one, a revoke button.

The panel (filters, table, form) is a fragment declared inline in the page; htmx requests
get only that fragment. Invalid forms answer 200 so that htmx swaps the errors in.
"""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from access.policy import allow
from access.roles import Perm
from hosts.models import Host
from policy import exceptions as services
from policy.forms import RiskExceptionForm
from policy.models import EXPIRING_DAYS, RiskException, RiskExceptionQuerySet
from posture.lib.filters import LenientQuery
from posture.lib.htmx import HtmxHttpRequest, fragment_requested, render_page

FILTERS = ("all", "active", "expiring", "expired", "revoked")


def _status(request: HttpRequest) -> str:
    return LenientQuery(request.GET).choice("status", FILTERS, "all")


def _filtered(status: str) -> RiskExceptionQuerySet:
    now = timezone.now()
    qs = RiskException.objects.all()
    if status == "active":
        return qs.active(now)
    if status == "expiring":
        return qs.expiring(now)
    if status == "expired":
        return qs.expired(now)
    if status == "revoked":
        return qs.revoked()
    return qs


def _page(request: HtmxHttpRequest, form: RiskExceptionForm) -> HttpResponse:
    status = _status(request)
    rows = (
        _filtered(status)
        .select_related("host")
        .annotate(
            accepted_findings=Count(
                "findings", filter=Q(findings__resolved_at__isnull=True, findings__accepted=True)
            )
        )
    )
    context = {
        "form": form,
        "status": status,
        "filters": [(f, _filtered(f).count()) for f in FILTERS],
        "rows": rows,
        "expiring_days": EXPIRING_DAYS,
        "host_names": Host.objects.order_by("name").values_list("name", flat=True),
        "now": timezone.now(),
    }
    return render_page(request, "policy/exceptions.html", "exceptions-panel", context)


@allow(Perm.VIEW, write=Perm.EXCEPTION_REQUEST)
@require_http_methods(["GET", "POST"])
def exception_list(request: HtmxHttpRequest) -> HttpResponse:
    form = RiskExceptionForm(request.POST or None, initial=request.GET.dict() or None)
    if request.method == "POST":
        if not form.is_valid():
            return _page(request, form)
        exc = form.save(user=request.user.get_username())
        messages.success(
            request,
            _("Exception saved: %(e)s. The hosts it covers are being rescanned.") % {"e": exc},
        )
        if not fragment_requested(request):
            return redirect("exceptions")
        form = RiskExceptionForm()
    return _page(request, form)


@allow(Perm.EXCEPTION_APPROVE)
@require_POST
def exception_revoke(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    exc = get_object_or_404(RiskException, pk=pk)
    if services.revoke(exc, request.user.get_username()):
        messages.success(request, _("Exception revoked: the hosts it covered are being rescanned."))
    if fragment_requested(request):
        return _page(request, RiskExceptionForm())
    return redirect("exceptions")

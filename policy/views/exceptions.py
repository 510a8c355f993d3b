"""One page: the risk exceptions of the account's scope with status filters, the requests
waiting for approval in their own group, a form to ask for one, approve / reject / revoke.

The panel (filters, tables, form) is a fragment declared inline in the page; htmx requests
get only that fragment. Invalid forms answer 422 to htmx (swapped in place, as everywhere).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from access.policy import allow
from access.roles import Perm
from access.services import request_access
from policy import approval, scoping
from policy import exceptions as services
from policy.forms import RiskExceptionForm
from policy.models import EXPIRING_DAYS, RiskException, RiskExceptionQuerySet
from posture.lib.filters import LenientQuery
from posture.lib.htmx import HtmxHttpRequest, fragment_requested, invalid_status, render_page

FILTERS = ("all", "active", "expiring", "expired", "revoked", "rejected")


def _status(request: HttpRequest) -> str:
    return LenientQuery(request.GET).choice("status", FILTERS, "all")


def _filtered(seen: RiskExceptionQuerySet, status: str) -> RiskExceptionQuerySet:
    now = timezone.now()
    if status == "active":
        return seen.active(now)
    if status == "expiring":
        return seen.expiring(now)
    if status == "expired":
        return seen.expired(now)
    if status == "revoked":
        return seen.revoked()
    if status == "rejected":
        return seen.rejected()
    # "all": every decided one; the pending ones have their own group above.
    return seen.exclude(pk__in=seen.pending(now).values("pk"))


def _form(request: HttpRequest, data: Any = None, initial: Any = None) -> RiskExceptionForm:
    return RiskExceptionForm(data, initial=initial, scope=request_access(request).scope)


def _page(request: HtmxHttpRequest, form: RiskExceptionForm, code: int = 200) -> HttpResponse:
    access = request_access(request)
    status = _status(request)
    seen = scoping.concerning(RiskException.objects.all(), access.scope)
    related = ("host", "requested_by", "approved_by", "rejected_by")
    rows = (
        _filtered(seen, status)
        .select_related(*related)
        .annotate(
            accepted_findings=Count(
                "findings", filter=Q(findings__resolved_at__isnull=True, findings__accepted=True)
            )
        )
    )
    context = {
        "form": form if access.can(Perm.EXCEPTION_REQUEST) else None,
        "status": status,
        "filters": [(f, _filtered(seen, f).count()) for f in FILTERS],
        "rows": rows,
        "pending": seen.pending(timezone.now()).select_related(*related),
        "can_approve": access.can(Perm.EXCEPTION_APPROVE),
        "four_eyes": approval.four_eyes(),
        "expiring_days": EXPIRING_DAYS,
        "host_names": scoping.hosts_of(access.scope)
        .order_by("name")
        .values_list("name", flat=True),
        "now": timezone.now(),
    }
    return render_page(request, "policy/exceptions.html", "exceptions-panel", context, code)


@allow(Perm.VIEW, write=Perm.EXCEPTION_REQUEST)
@require_http_methods(["GET", "POST"])
def exception_list(request: HtmxHttpRequest) -> HttpResponse:
    form = _form(request, request.POST or None, initial=request.GET.dict() or None)
    if request.method == "POST":
        if not form.is_valid():
            return _page(request, form, invalid_status(request))
        can_approve = request_access(request).can(Perm.EXCEPTION_APPROVE)
        exc = form.save(user=request.user, can_approve=can_approve, request=request)
        if exc.is_approved:
            text = _("Exception saved: %(e)s. The hosts it covers are being rescanned.")
        else:
            text = _("Exception requested: %(e)s. It applies once an approver approves it.")
        messages.success(request, text % {"e": exc})
        if not fragment_requested(request):
            return redirect("exceptions")
        form = _form(request)
    return _page(request, form)


def _act(
    request: HtmxHttpRequest, pk: int, action: Callable[[RiskException], bool], done: str
) -> HttpResponse:
    """Find the exception in the account's scope (404 outside it), check the account may act
    on what it targets (403), act, and answer like the page's other forms."""
    exc = scoping.actionable(RiskException.objects.all(), request_access(request).scope, pk)
    try:
        if action(exc):
            messages.success(request, done)
    except approval.Refused as refused:
        messages.error(request, str(refused))
    if fragment_requested(request):
        return _page(request, _form(request))
    return redirect("exceptions")


@allow(Perm.EXCEPTION_APPROVE)
@require_POST
def exception_revoke(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    def revoke(exc: RiskException) -> bool:
        return services.revoke(exc, request.user.get_username(), request=request)

    return _act(
        request, pk, revoke, _("Exception revoked: the hosts it covered are being rescanned.")
    )


@allow(Perm.EXCEPTION_APPROVE)
@require_POST
def exception_approve(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    def approve(exc: RiskException) -> bool:
        return services.approve(exc, request.user, request=request)

    return _act(
        request, pk, approve, _("Exception approved: the hosts it covers are being rescanned.")
    )


@allow(Perm.EXCEPTION_APPROVE)
@require_POST
def exception_reject(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    def reject(exc: RiskException) -> bool:
        return services.reject(exc, request.user, request=request)

    return _act(request, pk, reject, _("Exception rejected: it will not apply."))

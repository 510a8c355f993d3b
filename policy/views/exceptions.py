"""One page: the risk exceptions of the account's scope with status filters, the requests
waiting for approval in their own group, a form to ask for one, approve / reject / revoke.

The panel (filters, tables, form) is a fragment declared inline in the page; htmx requests
get only that fragment. Invalid forms answer 422 to htmx (swapped in place, as everywhere).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access.policy import allow
from access.roles import Perm
from access.services import request_access
from policy import approval, matching, scoping
from policy import exceptions as services
from policy import preview as previews
from policy.forms import DEFAULT_PRESET, RiskExceptionForm
from policy.models import EXPIRING_DAYS, RiskException, RiskExceptionQuerySet
from posture.lib.filters import LenientQuery
from posture.lib.htmx import HtmxHttpRequest, fragment_requested, invalid_status, render_page
from rules import REGISTRY

FILTERS = ("all", "active", "expiring", "expired", "revoked", "rejected")
# What an "Accept…" link may prefill.
PREFILLED = ("rule_id", "host", "label", "container_pattern", "image_pattern")


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


def _initial(request: HttpRequest) -> dict[str, Any]:
    """The form's first values: what the link prefilled, the user as owner, 90 days."""
    initial = {k: str(request.GET[k]) for k in PREFILLED if request.GET.get(k)}
    user = request.user
    initial["owner"] = getattr(user, "email", "") or user.get_username()
    initial["expires_in"] = DEFAULT_PRESET
    return initial


def back_url(request: HttpRequest) -> str:
    """?next= (or the form's hidden next) when it is a path on this site; "" otherwise, so
    that no link of ours sends anyone to another site (an open redirect)."""
    value = str(request.POST.get("next") or request.GET.get("next") or "")
    safe = url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return value if safe and value.startswith("/") and not value.startswith("//") else ""


def draft_of(form: RiskExceptionForm) -> previews.Draft | str:
    """The scope the form's fields describe, or why there is none yet. Reads only the scope
    fields: a missing reason or owner does not stop the count."""
    form.is_valid()
    data = form.cleaned_data
    for name in ("rule_id", "host", "label", "container_pattern", "image_pattern"):
        if name in form.errors:
            return str(form.errors[name][0])
    if not data.get("rule_id"):
        return _("Choose a rule to see the findings it would cover.")
    label_key, label_value = data.get("label") or ("", "")
    rule = REGISTRY.get(data["rule_id"])
    errors = matching.scope_errors(
        rule_scope=rule.scope if rule else None,
        has_host=data.get("host") is not None,
        label_key=label_key,
        container_pattern=data.get("container_pattern", ""),
        image_pattern=data.get("image_pattern", ""),
    )
    if errors:
        return errors[0]
    return previews.Draft(
        rule_id=data["rule_id"],
        host=data.get("host"),
        label_key=label_key,
        label_value=label_value,
        container_pattern=data.get("container_pattern", ""),
        image_pattern=data.get("image_pattern", ""),
    )


def _preview_context(request: HttpRequest, form: RiskExceptionForm) -> dict[str, Any]:
    draft = draft_of(form)
    if isinstance(draft, str):
        return {"preview": None, "preview_note": draft}
    return {"preview": previews.preview(draft, request_access(request).scope)}


def _form_data(form: RiskExceptionForm) -> dict[str, Any]:
    """An unbound form's initial values as data, to preview what it shows."""
    return {name: form.initial.get(name, "") for name in PREFILLED}


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
        "back_url": back_url(request),
        # Arrived from a finding's "Accept…", or a form being corrected: the form first.
        "prefilled": bool(request.GET.get("rule_id")) or form.is_bound,
    }
    if context["form"] is not None:
        shown = form if form.is_bound else _form(request, _form_data(form))
        context.update(_preview_context(request, shown))
    return render_page(request, "policy/exceptions.html", "exceptions-panel", context, code)


@allow(Perm.VIEW, write=Perm.EXCEPTION_REQUEST)
@require_http_methods(["GET", "POST"])
def exception_list(request: HtmxHttpRequest) -> HttpResponse:
    form = _form(request, request.POST or None, initial=_initial(request))
    if request.method == "POST":
        if not form.is_valid():
            return _page(request, form, invalid_status(request))
        can_approve = request_access(request).can(Perm.EXCEPTION_APPROVE)
        exc = form.save(user=request.user, can_approve=can_approve, request=request)
        if exc.is_approved:
            text = _("Exception saved: %(e)s. The hosts it covers are being rescanned.")
        else:
            text = _("Exception requested: %(e)s. It applies once an approver approves it.")
        messages.success(request, text % {"e": exc.summary})
        if not fragment_requested(request):
            back = back_url(request)
            return redirect(
                f"{reverse('exceptions')}?{urlencode({'next': back})}" if back else "exceptions"
            )
        form = _form(request, initial=_initial(request))
    return _page(request, form)


@allow(Perm.EXCEPTION_REQUEST)
@require_GET
def exception_preview(request: HtmxHttpRequest) -> HttpResponse:
    """The form's "matches N findings", for the fields as typed so far (htmx, as they
    change): the account's hosts only."""
    context = _preview_context(request, _form(request, request.GET))
    return render(request, "policy/exception_preview.html", context)


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
@require_http_methods(["GET", "POST"])
def exception_revoke(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """GET: what revoking would change, and a button to confirm; POST: revoke. An exception
    that expired or was revoked already has nothing left to revoke."""
    if request.method == "GET":
        exc = scoping.actionable(RiskException.objects.all(), request_access(request).scope, pk)
        accepted = exc.findings.filter(resolved_at__isnull=True, accepted=True).count()
        context = {"exc": exc, "state": exc.current_state, "accepted": accepted}
        return render(request, "policy/exception_revoke.html", context)

    def revoke(exc: RiskException) -> bool:
        if exc.current_state == RiskException.State.EXPIRED:
            messages.error(request, _("This exception has expired already: nothing to revoke."))
            return False
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

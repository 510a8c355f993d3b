"""Rule profiles: the overrides in force in the account's scope, the ones waiting for
approval, add one, approve / reject / remove one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from access.policy import allow
from access.roles import Perm
from access.services import request_access
from policy import approval, overrides, scoping
from policy.forms import RuleOverrideForm
from policy.models import RuleOverride
from posture.lib.htmx import form_status
from rules import REGISTRY, Severity


def _rows(queryset: Any) -> list[dict[str, Any]]:
    return [
        {
            "o": o,
            "rule": REGISTRY.get(o.rule_id),
            "severity": Severity(o.severity).label if o.severity is not None else "",
        }
        for o in queryset.select_related("host", "requested_by", "approved_by")
    ]


@allow(Perm.VIEW, write=Perm.POLICY)
@require_http_methods(["GET", "POST"])
def profiles(request: HttpRequest) -> HttpResponse:
    access = request_access(request)
    form = RuleOverrideForm(
        request.POST or None, initial=request.GET.dict() or None, scope=access.scope
    )
    if request.method == "POST" and form.is_valid():
        override = form.save(user=request.user, can_approve=True, request=request)
        if override.is_approved:
            text = _("Override saved: %(o)s. It applies from the next scan.")
        else:
            text = _("Override requested: %(o)s. It applies once another approver approves it.")
        messages.success(request, text % {"o": override.summary})
        return redirect("profiles")
    seen = scoping.concerning(RuleOverride.objects.all(), access.scope)
    context = {
        "form": form if access.can(Perm.POLICY) else None,
        "can_approve": access.can(Perm.POLICY),
        "four_eyes": approval.four_eyes(),
        "overrides": _rows(seen.approved()),
        "pending": _rows(seen.pending()),
    }
    return render(request, "policy/profiles.html", context, status=form_status(request, form))


def _act(request: HttpRequest, pk: int, action: Callable[[RuleOverride], bool], done: str) -> Any:
    """Find the override in the account's scope (404 outside it), check the account may act
    on what it targets (403), act, back to the page."""
    override = scoping.actionable(RuleOverride.objects.all(), request_access(request).scope, pk)
    try:
        if action(override):
            messages.success(request, done)
    except approval.Refused as refused:
        messages.error(request, str(refused))
    return redirect("profiles")


@allow(Perm.POLICY)
@require_POST
def profile_delete(request: HttpRequest, pk: int) -> HttpResponse:
    def delete(override: RuleOverride) -> bool:
        overrides.delete(override, request=request)
        return True

    return _act(request, pk, delete, _("Override removed; the default applies from the next scan."))


@allow(Perm.POLICY)
@require_POST
def profile_approve(request: HttpRequest, pk: int) -> HttpResponse:
    def approve(override: RuleOverride) -> bool:
        return overrides.approve(override, request.user, request=request)

    return _act(request, pk, approve, _("Override approved: it applies from the next scan."))


@allow(Perm.POLICY)
@require_POST
def profile_reject(request: HttpRequest, pk: int) -> HttpResponse:
    def reject(override: RuleOverride) -> bool:
        return overrides.reject(override, request.user, request=request)

    return _act(request, pk, reject, _("Override rejected: it will not apply."))

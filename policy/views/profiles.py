"""Rule profiles: list the overrides in force, add one, remove one."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from access.policy import allow
from access.roles import Perm
from policy.forms import RuleOverrideForm
from policy.models import RuleOverride
from rules import REGISTRY, Severity


@allow(Perm.VIEW, write=Perm.POLICY)
@require_http_methods(["GET", "POST"])
def profiles(request: HttpRequest) -> HttpResponse:
    form = RuleOverrideForm(request.POST or None, initial=request.GET.dict() or None)
    if request.method == "POST" and form.is_valid():
        override = form.save(user=request.user.get_username())
        messages.success(
            request, _("Override saved: %(o)s. It applies from the next scan.") % {"o": override}
        )
        return redirect("profiles")
    overrides = [
        {
            "o": o,
            "rule": REGISTRY.get(o.rule_id),
            "severity": Severity(o.severity).label if o.severity is not None else "",
        }
        for o in RuleOverride.objects.select_related("host")
    ]
    return render(request, "policy/profiles.html", {"form": form, "overrides": overrides})


@allow(Perm.POLICY)
@require_POST
def profile_delete(request: HttpRequest, pk: int) -> HttpResponse:
    override = get_object_or_404(RuleOverride, pk=pk)
    override.delete()
    messages.success(request, _("Override removed; the default applies from the next scan."))
    return redirect("profiles")

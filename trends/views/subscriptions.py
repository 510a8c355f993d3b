"""The signed-in user's report mails: list, subscribe, pause or resume, remove.

Every lookup is scoped to the user: someone else's subscription is a 404. The list is an
inline partial; htmx requests get only that fragment.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from access.policy import allow
from access.roles import Perm
from access.services import request_access
from posture.lib.htmx import HtmxHttpRequest, fragment_requested, render_page
from trends.forms import ReportSubscriptionForm
from trends.models import ReportSubscription
from trends.periods import KINDS
from trends.scope import label_values


def _user_id(request: HttpRequest) -> int:
    # LoginRequiredMiddleware guarantees a signed-in user on every view here.
    return int(request.user.pk or 0)


def _page(
    request: HtmxHttpRequest, form: ReportSubscriptionForm, status: int = 200
) -> HttpResponse:
    context = {
        "form": form,
        "teams": form.teams,
        "subscriptions": ReportSubscription.objects.filter(user_id=_user_id(request)).order_by(
            "period", "team", "pk"
        ),
    }
    return render_page(request, "trends/subscriptions.html", "report-subs-panel", context, status)


def _form(request: HtmxHttpRequest, data: object = None) -> ReportSubscriptionForm:
    period = str(request.GET.get("period", "week"))
    initial = {
        "period": period if period in KINDS else "week",
        "team": str(request.GET.get("team", ""))[:255],
    }
    access = request_access(request).scope
    # A scoped account's menu is its teams; the fleet's label values only for the others.
    teams = label_values("team") if access.all_hosts else []
    return ReportSubscriptionForm(
        data, initial=initial, user=request.user, teams=teams, access=access
    )


@allow(Perm.VIEW)
@require_http_methods(["GET", "POST"])
def report_subscriptions(request: HtmxHttpRequest) -> HttpResponse:
    form = _form(request, request.POST or None)
    if request.method == "POST":
        if not form.is_valid():
            return _page(request, form, status=422 if fragment_requested(request) else 200)
        form.instance.user_id = _user_id(request)
        form.save()
        messages.success(request, _("You will receive this report by email."))
        if not fragment_requested(request):
            return redirect("report-subscriptions")
        form = _form(request)
    return _page(request, form)


def _done(request: HtmxHttpRequest) -> HttpResponse:
    if fragment_requested(request):
        return _page(request, _form(request))
    return redirect("report-subscriptions")


@allow(Perm.VIEW)
@require_POST
def report_subscription_toggle(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    subscription = get_object_or_404(ReportSubscription, pk=pk, user_id=_user_id(request))
    subscription.active = not subscription.active
    subscription.save(update_fields=["active"])
    if subscription.active:
        messages.success(request, _("Report mails resumed."))
    else:
        messages.success(request, _("Report mails paused."))
    return _done(request)


@allow(Perm.VIEW)
@require_POST
def report_subscription_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(ReportSubscription, pk=pk, user_id=_user_id(request)).delete()
    messages.success(request, _("Report subscription removed."))
    return _done(request)

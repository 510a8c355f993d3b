"""One page: the signed-in user's alert subscriptions, a form to add one, a button to remove.

The list is a fragment declared inline in the page; htmx requests get only that fragment.
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
from alerts.forms import SubscriptionForm
from alerts.models import Notification, Subscription
from posture.lib.htmx import HtmxHttpRequest, fragment_requested, render_page


def _user_id(request: HttpRequest) -> int:
    # LoginRequiredMiddleware guarantees a signed-in user on every view here.
    return int(request.user.pk or 0)


def _page(request: HtmxHttpRequest, form: SubscriptionForm, status: int = 200) -> HttpResponse:
    user_id = _user_id(request)
    context = {
        "form": form,
        "subscriptions": Subscription.objects.filter(user_id=user_id),
        "recent": Notification.objects.filter(user_id=user_id)[:10],
    }
    return render_page(request, "alerts/subscriptions.html", "alerts-panel", context, status)


@allow(Perm.VIEW)
@require_http_methods(["GET", "POST"])
def subscriptions(request: HtmxHttpRequest) -> HttpResponse:
    initial = {"owner_email": request.user.email, "time_zone": "UTC"}  # type: ignore[union-attr]
    access = request_access(request).scope
    address = request.user.email  # type: ignore[union-attr]
    form = SubscriptionForm(request.POST or None, initial=initial, access=access, address=address)
    if request.method == "POST":
        if not form.is_valid():
            return _page(request, form, status=422 if fragment_requested(request) else 200)
        form.instance.user_id = _user_id(request)
        form.save()
        messages.success(request, _("Subscription saved."))
        if not fragment_requested(request):
            return redirect("alerts")
        form = SubscriptionForm(initial=initial, access=access)
    return _page(request, form)


@allow(Perm.VIEW)
@require_POST
def subscription_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    # Scoped to the user: someone else's subscription is a 404, not a deletion.
    get_object_or_404(Subscription, pk=pk, user_id=_user_id(request)).delete()
    messages.success(request, _("Subscription removed."))
    if fragment_requested(request):
        access = request_access(request).scope
        return _page(request, SubscriptionForm(initial={"time_zone": "UTC"}, access=access))
    return redirect("alerts")

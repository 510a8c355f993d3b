"""One page: the signed-in user's alert subscriptions, a form to add one, a button to remove,
and the recent messages. Two fragments serve the form while it is filled in: its fields for
the scope chosen, and the "matches N hosts" preview.

The list is a fragment declared inline in the page; htmx requests get only that fragment.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access.policy import allow
from access.roles import Perm
from access.services import request_access
from alerts.channels.test import deliveries_of, send_channel_test
from alerts.forms import SubscriptionForm, prefill
from alerts.models import Subscription
from alerts.recent import recent_messages
from posture.lib.htmx import HtmxHttpRequest, fragment_requested, invalid_status, render_page

PAGE = "alerts/subscriptions.html"


def _user_id(request: HttpRequest) -> int:
    # LoginRequiredMiddleware guarantees a signed-in user on every view here.
    return int(request.user.pk or 0)


def _form(request: HttpRequest, data: object = None, *, query: bool = True) -> SubscriptionForm:
    """The form for this account; `query`: prefilled from the URL (?host=…, ?team=…)."""
    email = request.user.email  # type: ignore[union-attr]
    initial = {"owner_email": email, "time_zone": "UTC"}
    if query:
        initial |= prefill(request.GET)
    access = request_access(request).scope
    return SubscriptionForm(data, initial=initial, access=access, address=email)


def _page(
    request: HtmxHttpRequest, form: SubscriptionForm, status: int = 200, secret: str = ""
) -> HttpResponse:
    user_id = _user_id(request)
    context = {
        "form": form,
        "preview": form.preview(request.user),
        "subscriptions": Subscription.objects.filter(user_id=user_id).select_related("host"),
        "recent": recent_messages(user_id, request_access(request).scope),
        "deliveries": deliveries_of(user_id),
        # A webhook's signing key, in clear this once: this response is the only place.
        "signing_secret": secret,
    }
    return render_page(request, PAGE, "alerts-panel", context, status)


@allow(Perm.VIEW)
@require_http_methods(["GET", "POST"])
def subscriptions(request: HtmxHttpRequest) -> HttpResponse:
    form = _form(request, request.POST or None)
    if request.method == "POST":
        if not form.is_valid():
            return _page(request, form, status=invalid_status(request))
        form.instance.user_id = _user_id(request)
        form.save()
        messages.success(request, _("Subscription saved."))
        secret = form.new_secret
        # A redirect would lose the signing key, which is shown in this answer only.
        if not fragment_requested(request) and not secret:
            return redirect("alerts")
        return _page(request, _form(request, query=False).start_over(), secret=secret)
    return _page(request, form)


def _fragment(request: HtmxHttpRequest, part: str) -> HttpResponse:
    """A part of the form for what has been filled in so far; opened without htmx, the
    whole page with the same values."""
    if not fragment_requested(request):
        query = urlencode(prefill(request.GET))
        return redirect(reverse("alerts") + (f"?{query}" if query else ""))
    form = _form(request)
    context = {"form": form, "preview": form.preview(request.user)}
    return render(request, f"{PAGE}#{part}", context)


@allow(Perm.VIEW)
@require_GET
def form_fields(request: HtmxHttpRequest) -> HttpResponse:
    return _fragment(request, "fields")


@allow(Perm.VIEW)
@require_GET
def form_preview(request: HtmxHttpRequest) -> HttpResponse:
    return _fragment(request, "preview-text")


@allow(Perm.VIEW)
@require_POST
def subscription_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    # Scoped to the user: someone else's subscription is a 404, not a deletion.
    get_object_or_404(Subscription, pk=pk, user_id=_user_id(request)).delete()
    messages.success(request, _("Subscription removed."))
    if fragment_requested(request):
        return _page(request, _form(request, query=False))
    return redirect("alerts")


@allow(Perm.VIEW)
@require_POST
def channel_test(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    sub = get_object_or_404(
        Subscription.objects.exclude(channel=Subscription.Channel.EMAIL),
        pk=pk,
        user_id=_user_id(request),
    )
    send_channel_test(request, sub)
    if fragment_requested(request):
        return _page(request, _form(request, query=False))
    return redirect("alerts")


def _edit_form(request: HttpRequest, sub: Subscription) -> SubscriptionForm:
    """The form over a saved subscription; the fields that are not columns (host by name,
    team) start from what it stores."""
    initial: dict[str, object] = {"host": sub.host.name if sub.host else ""}
    if sub.scope == Subscription.Scope.LABEL:
        initial["team"] = sub.labels().get("team", "")
    email = request.user.email  # type: ignore[union-attr]
    access = request_access(request).scope
    return SubscriptionForm(
        request.POST or None, instance=sub, initial=initial, access=access, address=email
    )


@allow(Perm.VIEW)
@require_http_methods(["GET", "POST"])
def subscription_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    sub = get_object_or_404(Subscription, pk=pk, user_id=_user_id(request))
    form = _edit_form(request, sub)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Subscription saved."))
        if form.new_secret:  # became a webhook: its key, this once
            return _page(request, _form(request, query=False).start_over(), secret=form.new_secret)
        return redirect("alerts")
    status = invalid_status(request) if request.method == "POST" else 200
    context = {"form": form, "preview": form.preview(request.user), "sub": sub}
    return render(request, "alerts/subscription_edit.html", context, status=status)

"""The token pages: a person's own tokens (/account/tokens/), an admin's service tokens
(/access/tokens/), revoking one. A new token's secret is in the answer to its creation
only (Cache-Control: no-store, as every page): it is kept nowhere but as its sha256."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from access.policy import allow
from access.roles import Perm, Role
from access.services import request_access, set_role
from api.forms import ServiceTokenForm, TokenForm
from api.models import ApiToken
from api.tokens import Issued, issue, revoke
from posture.lib.htmx import form_status


def _listed(tokens: QuerySet[ApiToken]) -> QuerySet[ApiToken]:
    return tokens.select_related("user", "created_by").prefetch_related("teams")


def _issue(request: HttpRequest, form: TokenForm, user: User | None = None) -> Issued:
    data = form.cleaned_data
    return issue(
        creator=request.user,  # type: ignore[arg-type]
        user=user,
        name=data["name"],
        role=Role(data["role"]),
        teams=list(data["teams"]),
        days=data["days"],
        request=request,
    )


@allow(Perm.VIEW)
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    access = request_access(request)
    form = TokenForm(request.POST or None, access=access)
    issued = None
    if request.method == "POST" and form.is_valid():
        issued = _issue(request, form)
        form = TokenForm(access=access)
    context = {
        "form": form,
        "issued": issued,
        "tokens": _listed(ApiToken.objects.filter(user_id=int(request.user.pk or 0))),
    }
    status = 200 if issued else form_status(request, form)
    return render(request, "api/tokens.html", context, status=status)


@allow(Perm.USERS)
@require_http_methods(["GET", "POST"])
def service_tokens(request: HttpRequest) -> HttpResponse:
    access = request_access(request)
    form = ServiceTokenForm(request.POST or None, access=access)
    issued = None
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            issued = _issue(request, form, user=_service_account(form.cleaned_data["account"]))
        form = ServiceTokenForm(access=access)
    context = {
        "form": form,
        "issued": issued,
        "tokens": _listed(ApiToken.objects.exclude(user_id=int(request.user.pk or 0))),
    }
    status = 200 if issued else form_status(request, form)
    return render(request, "api/service_tokens.html", context, status=status)


def _service_account(name: str) -> User:
    user, created = get_user_model().objects.get_or_create(username=name)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        # Its own role is never used (a token's access is the token's, within its
        # creator's): the least one, so that nothing else reads more into it.
        set_role(user, Role.VIEWER)
    return user  # type: ignore[return-value]


def _revoke(request: HttpRequest, token: ApiToken, back: str) -> HttpResponse:
    if request.method == "POST":
        revoke(token, request=request)
        messages.success(request, _("Token %(name)s revoked.") % {"name": token.name})
        return redirect(back)
    context = {"token": token, "back": back, "action": request.path}
    return render(request, "api/token_revoke.html", context)


@allow(Perm.VIEW)
@require_http_methods(["GET", "POST"])
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """One's own tokens, and those one issued: another account's token is not found."""
    me = request.user.pk
    mine = ApiToken.objects.filter(Q(user_id=me) | Q(created_by_id=me))
    return _revoke(request, get_object_or_404(mine, pk=pk), "tokens")


@allow(Perm.USERS)
@require_http_methods(["GET", "POST"])
def service_token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """Any token, for admins (a person who left, a leaked CI token)."""
    return _revoke(request, get_object_or_404(ApiToken, pk=pk), "service-tokens")

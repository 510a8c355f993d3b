"""A person's own account: signing in, the account page, their password, their second factor,
and the set-password page an invitation link opens."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from access.policy import public, signed_in
from access.services import request_access
from accounts import mfa, people
from accounts.forms import AccountForm, LoginForm, TokenForm
from accounts.services import SESSION_KEY, chosen_language, set_language
from audit.services import diff, record
from posture.lib.htmx import form_status, invalid_status


def _user(request: HttpRequest) -> User:
    # The access policy let only signed-in accounts through to the views that call this.
    return request.user  # type: ignore[return-value]


class RefusedStatus:
    """Class-based form views answer a refused form as every form does (invalid_status)."""

    request: HttpRequest

    def form_invalid(self, form: Any) -> HttpResponse:
        response: HttpResponse = super().form_invalid(form)  # type: ignore[misc]
        response.status_code = invalid_status(self.request)
        return response


class LoginView(RefusedStatus, auth_views.LoginView):
    form_class = LoginForm


login = public(LoginView.as_view())


def _save_account(request: HttpRequest, user: User, data: dict[str, Any]) -> None:
    before = {"email": user.email, "language": chosen_language(user)}
    after = {"email": data["email"], "language": data["language"]}
    changes = diff(before, after)
    if "email" in changes:
        user.email = after["email"]
        user.save(update_fields=["email"])
    if "language" in changes:
        set_language(user, after["language"])
        # The session keeps the choice for the middleware: the next page speaks it.
        request.session[SESSION_KEY] = after["language"]
    if changes:
        record("account.updated", request=request, target=user, changes=changes)


@signed_in
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = AccountForm(
        request.POST if request.method == "POST" else None,
        initial={"email": user.email, "language": chosen_language(user)},
    )
    if form.is_valid():
        _save_account(request, user, form.cleaned_data)
        # Said in the language just chosen: the page it lands on speaks it.
        with translation.override(form.cleaned_data["language"] or translation.get_language()):
            messages.success(request, _("Your account was saved."))
        return redirect("account")
    form.focus(user.email)
    context = {
        "account": user,
        "form": form,
        "role": request_access(request).role,
        "teams": people.teams_of(user),
        "mfa_on": mfa.has_mfa(user),
    }
    return render(request, "accounts/account.html", context, status=form_status(request, form))


class PasswordChangeView(RefusedStatus, auth_views.PasswordChangeView):
    form_class = PasswordChangeForm
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("account")

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        response = super().form_valid(form)  # keeps this session signed in
        record("auth.password_changed", request=self.request, target=form.user)
        messages.success(self.request, _("Your password was changed."))
        return response


password_change = signed_in(PasswordChangeView.as_view())


class WelcomeView(RefusedStatus, auth_views.PasswordResetConfirmView):
    """The invitation link: a person sets their first password (or a new one an admin asked
    them to set). The token is Django's password-reset token: it dies with its use."""

    template_name = "accounts/welcome.html"
    success_url = reverse_lazy("login")
    post_reset_login = False

    def form_valid(self, form: SetPasswordForm) -> HttpResponse:
        response = super().form_valid(form)
        record("auth.password_changed", request=self.request, actor=form.user, target=form.user)
        messages.success(self.request, _("Your password is set: sign in with it."))
        return response


welcome = public(WelcomeView.as_view())


@signed_in
@never_cache  # the page shows the secret of the authenticator being enrolled
@sensitive_post_parameters("token")
def mfa_page(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    device = mfa.confirmed_device(user)
    form = TokenForm(request.POST or None)
    if device is not None:
        # Enrolled: the form verifies this session (an admin forced here by
        # POSTURE_REQUIRE_MFA_ADMINS who signed in before enrolling elsewhere).
        if form.is_valid():
            if mfa.verify_session(request, device, form.cleaned_data["token"]):
                messages.success(request, _("This session is verified."))
                return redirect("account")
            form.add_error("token", _("This code is not valid."))
        context: dict[str, Any] = {
            "enrolled": True,
            "verified": mfa.session_verified(request),
            "form": form,
        }
        return render(request, "accounts/mfa.html", context, status=form_status(request, form))
    pending = mfa.pending_device(user)
    if form.is_valid():
        if mfa.confirm(request, pending, form.cleaned_data["token"]):
            messages.success(request, _("Two-factor sign-in is on."))
            return redirect("account")
        form.add_error(
            "token",
            _("This code is not valid. Check that your phone's clock is right and try again."),
        )
    context = {
        "enrolled": False,
        "require_mfa": settings.POSTURE_REQUIRE_MFA_ADMINS,
        "form": form,
        "qr": mfa.qr_data_uri(pending),
        "secret": mfa.secret_text(pending),
    }
    return render(request, "accounts/mfa.html", context, status=form_status(request, form))

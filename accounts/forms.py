from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.mfa import confirmed_device, verify

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


def language_choices() -> list[tuple[str, StrOrPromise]]:
    # Language names stay in their own language: a reader lost in the wrong one finds theirs.
    return [("", _("Browser language")), *settings.LANGUAGES]


class LanguageForm(forms.Form):
    language = forms.ChoiceField(choices=language_choices, required=False)
    next = forms.CharField(required=False)


class LoginForm(AuthenticationForm):
    """Username and password, and the code of the person's authenticator when they enrolled
    one: the session is then verified by both factors (django-otp's user.is_verified())."""

    otp_token = forms.CharField(
        label=_("Authentication code"),
        required=False,
        max_length=16,
        strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        help_text=_("Only if you turned on two-factor sign-in: the code your app shows now."),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()  # the password, through axes' throttle
        user = self.user_cache
        device = confirmed_device(user) if user is not None else None
        if user is None or device is None:
            return cleaned
        token = cleaned.get("otp_token") or ""
        if not token:
            raise ValidationError(
                _("Enter the code from your authenticator app as well."), code="token_required"
            )
        if not verify(device, token):
            # A wrong code is a failed sign-in: axes counts it toward the lock-out, so the
            # second factor cannot be guessed at leisure once the password is known.
            user_login_failed.send(
                sender=__name__,
                credentials={"username": user.get_username()},
                request=self.request,
            )
            raise ValidationError(
                _("This code is not valid. Codes change every 30 seconds: type the current one."),
                code="invalid_token",
            )
        # django-otp's user_logged_in receiver stores it in the session: verified.
        user.otp_device = device  # type: ignore[attr-defined]
        return cleaned


class TokenForm(forms.Form):
    token = forms.CharField(
        label=_("Code"),
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class AccountForm(forms.Form):
    """What a person changes about themselves: where their mail goes, and in which language
    pages and mails speak to them (the header's switch sets the same preference)."""

    email = forms.EmailField(
        label=_("Email address"),
        required=False,  # an account may go without mail; the page then says what that costs
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        help_text=_("Alerts and reports you subscribe to are sent to this address."),
    )
    language = forms.ChoiceField(
        label=_("Language"),
        choices=language_choices,
        required=False,
        help_text=_("Of the pages, and of the mails sent to you."),
    )

    def focus(self, address: str) -> None:
        """Put the cursor where there is something to do: the first refused field, else a
        missing address."""
        field = next(iter(self.errors), None) if self.is_bound else None
        if field is None and not address:
            field = "email"
        if field in self.fields:
            self.fields[field].widget.attrs["autofocus"] = True

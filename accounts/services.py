"""A person's language, for pages (through the middleware) and for mail sent without a request."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

from accounts.models import Preference

# Where a session keeps the user's choice, so pages do not pay a query for it.
SESSION_KEY = "accounts.language"


def supported(code: str) -> bool:
    return code in dict(settings.LANGUAGES)


def chosen_language(user: AbstractBaseUser | AnonymousUser) -> str:
    """The language the user picked, or "" when they follow their browser."""
    if not user.is_authenticated:
        return ""
    code = Preference.objects.filter(user_id=user.pk).values_list("language", flat=True).first()
    # A code dropped from LANGUAGES since it was saved falls back like a blank choice.
    return code if code and supported(code) else ""


def user_language(user: AbstractBaseUser | AnonymousUser) -> str:
    """The language to write to this user in when there is no browser to ask (e.g. email)."""
    return chosen_language(user) or settings.LANGUAGE_CODE


def set_language(user: AbstractBaseUser, code: str) -> None:
    if code and not supported(code):
        raise ValueError(f"unsupported language {code!r}")
    Preference.objects.update_or_create(user_id=user.pk, defaults={"language": code})

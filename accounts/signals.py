from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest

from accounts.services import SESSION_KEY, chosen_language


@receiver(user_logged_in, dispatch_uid="accounts.remember_language")
def remember_language(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    # Login is when a session starts: reading the preference once here keeps it off every
    # page's query budget. The middleware still reads it for sessions that predate this.
    request.session[SESSION_KEY] = chosen_language(user)

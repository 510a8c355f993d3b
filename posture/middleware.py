from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.contrib.auth import SESSION_KEY
from django.http import HttpRequest, HttpResponse

# No inline script or style anywhere in our templates, so the policy can forbid both:
# container names and labels come from untrusted daemons and end up in pages.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)

# Views whose answer reveals nothing and may be cached like any other response. Static
# files never come this far: WhiteNoise answers them before the session is even read,
# with their own long-lived caching.
CACHEABLE_VIEWS = frozenset({"healthz"})


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        # Fragments differ from full pages for the same URL: caches must keep them apart.
        response.headers["Vary"] = ", ".join(
            filter(None, [response.headers.get("Vary"), "HX-Request"])
        )
        # Pages and downloads show the fleet: no browser (the back button of a shared
        # desk) or proxy may keep a copy. Everything but the allow-listed views, rather
        # than signed-in answers only, so a page that forgets its login check (or one
        # authenticated by a token, not a session) is covered all the same.
        match = request.resolver_match
        if match is None or match.url_name not in CACHEABLE_VIEWS:
            response.headers["Cache-Control"] = "no-store"
        return response


# The session's own key for when its expiry last slid forward.
REFRESHED_KEY = "_posture_refreshed"
# Sliding the expiry means saving the session: one UPDATE. Once a minute at most, not on
# every request (SESSION_SAVE_EVERY_REQUEST), so the idle limit holds to the minute at
# the price of one write a minute per active user.
REFRESH_EVERY_SECONDS = 60


class IdleSessionMiddleware:
    """Signed-in sessions end POSTURE_SESSION_IDLE_MINUTES (SESSION_COOKIE_AGE) after the
    last request, not after the login: an abandoned browser is signed out, a working
    person is not.

    Must sit below SessionMiddleware, which saves the session after this has marked it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = request.session
        # After the view: a login has just filled the session, a logout emptied it.
        if SESSION_KEY in session:
            now = int(time.time())
            if session.modified or now - session.get(REFRESHED_KEY, 0) >= REFRESH_EVERY_SECONDS:
                # Modified: SessionMiddleware saves it with a fresh expiry and cookie.
                session[REFRESHED_KEY] = now
        return response


def start_idle_clock(sender: Any, request: HttpRequest | None, **kwargs: Any) -> None:
    """On login (user_logged_in, connected in posture.apps): the login saves the session
    anyway, so the clock starts there at no cost, including for test clients'
    force_login, which no middleware sees."""
    if request is not None and hasattr(request, "session"):
        request.session[REFRESHED_KEY] = int(time.time())

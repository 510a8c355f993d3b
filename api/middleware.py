"""Token authentication and the access policy's answers, in JSON, for everything under /api/.

Sits after django-otp's middleware and before the audit middleware (which reads the actor
when the request starts), so that for a token call every later middleware, the view and
every service calling `request_access(request)` see the token's account and the token's
access, as they see a session's for a page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from access.policy import policy_of
from access.services import request_access
from api import errors
from api.tokens import find, note_use, token_access

API_PREFIX = "/api/"


class TokenSession(SessionBase):
    """A token call has no session: nothing a middleware writes into this one (the
    language, the idle clock) is saved, so no session row and no cookie are made per call."""

    @property  # type: ignore[override]
    def modified(self) -> bool:
        return False

    @modified.setter
    def modified(self, value: bool) -> None:
        pass

    def load(self) -> dict[str, Any]:
        return {}

    def exists(self, session_key: str) -> bool:
        return False

    def create(self) -> None:
        pass

    def save(self, must_create: bool = False) -> None:
        pass

    def delete(self, session_key: str | None = None) -> None:
        pass


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


class ApiTokenMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api(request):
            return self.get_response(request)
        header = request.headers.get("Authorization")
        if header is not None:
            refused = self._authenticate(request, header)
            if refused is not None:
                return refused
        return _json_errors(self.get_response(request))

    def _authenticate(self, request: HttpRequest, header: str) -> HttpResponse | None:
        scheme, _sep, raw = header.partition(" ")
        token = find(raw.strip()) if scheme.lower() == "bearer" else None
        access = token_access(token) if token is not None else None
        if token is None or access is None:
            return errors.unauthenticated(request, invalid=True)
        user = token.user
        # Tokens are made on a page behind the admins' second-factor gate: a call with one
        # counts as verified for AdminMfaMiddleware.
        user.is_verified = lambda: True  # type: ignore[attr-defined]
        request.user = user
        request._posture_access = access  # type: ignore[attr-defined]
        request.api_token = token  # type: ignore[attr-defined]
        request.session = TokenSession()
        # A bearer header is not ambient authority a third-party page could make a browser
        # send: no CSRF check (DRF's views are csrf_exempt; this covers any other view).
        request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
        note_use(token, request)
        return None

    def process_view(
        self,
        request: HttpRequest,
        view: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        """The access policy, answered in JSON before LoginRequiredMiddleware would send an
        anonymous call to the login page and AccessPolicyMiddleware would render 403 HTML.
        Same declarations, same rule (Policy.perm_for) as the pages."""
        if not is_api(request):
            return None
        policy = policy_of(view)
        if policy is None:
            return errors.json_error(403, _("This endpoint declares no access policy."))
        if policy.kind in ("public", "custom"):
            return None
        access = request_access(request)
        if not access.signed_in:
            if getattr(view, "login_redirect", False) and "text/html" in request.headers.get(
                "Accept", ""
            ):
                return redirect_to_login(request.get_full_path())  # a person: the login page
            return errors.unauthenticated(request)
        wanted = policy.perm_for(request.method or "GET")
        if policy.kind == "perm" and (wanted is None or not access.can(wanted)):
            return errors.json_error(403, _("Your role does not allow this."))
        return None


def _json_errors(response: HttpResponse) -> HttpResponse:
    """Django's own error pages (an unknown /api/ URL, a 500) in the API's error body."""
    if response.status_code < 400 or "json" in response.get("Content-Type", ""):
        return response
    if response.status_code == 404:
        return errors.json_error(404, _("Not found."))
    if response.status_code == 403:
        return errors.json_error(403, _("Your role does not allow this."))
    if response.status_code >= 500:
        return errors.json_error(response.status_code, _("Server error."))
    if response.status_code == 400:
        return errors.json_error(400, _("Bad request."))
    return response

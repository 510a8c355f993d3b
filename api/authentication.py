"""DRF's view of who is calling: the token found by api.middleware, else the session.

The token is looked up once, in the middleware, so that everything that runs before the
view (LoginRequiredMiddleware, AccessPolicyMiddleware, audit's actor) sees the token's
account and access; here DRF only reads the result.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.request import Request

# What a client without a token, or with a bad one, is told to send (401's header).
WWW_AUTHENTICATE = 'Bearer realm="posture"'


class BearerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        token = getattr(request._request, "api_token", None)
        if token is None:
            return None
        return request._request.user, token

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) to an anonymous call.
        return WWW_AUTHENTICATE


class BrowserSessionAuthentication(SessionAuthentication):
    """The signed-in browser (the docs page, posture.js): DRF checks the CSRF token on
    every unsafe method, as Django does for the pages."""


class BearerTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "pst_…"}


class SessionScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "api.authentication.BrowserSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}

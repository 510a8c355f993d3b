from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import translation

from access.services import request_access
from accounts.mfa import session_verified
from accounts.services import SESSION_KEY, chosen_language, supported


class UserLanguageMiddleware:
    """Overrides LocaleMiddleware's Accept-Language choice with the signed-in user's own.

    Must come after AuthenticationMiddleware (it needs request.user) and after
    LocaleMiddleware, whose choice stands for anonymous visitors and for users who left
    their preference blank. LocaleMiddleware's response hook then reports whatever language
    is active in Content-Language.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            code = request.session.get(SESSION_KEY)
            if code is None:
                code = request.session[SESSION_KEY] = chosen_language(request.user)
            if code and supported(code):
                translation.activate(code)
                request.LANGUAGE_CODE = code
        return self.get_response(request)


# Pages an admin who must enroll can still reach: enrolling itself, and leaving.
MFA_EXEMPT = frozenset({"mfa", "logout", "language"})


class AdminMfaMiddleware:
    """With POSTURE_REQUIRE_MFA_ADMINS, an admin whose session was not verified by a second
    factor sees only /account/mfa/ until it is: enrolling an authenticator there, or typing
    a code from the one already enrolled, verifies the session.

    After AccessPolicyMiddleware (a refused page stays refused) and after django-otp's
    OTPMiddleware (it provides user.is_verified()).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        if not settings.POSTURE_REQUIRE_MFA_ADMINS or not request.user.is_authenticated:
            return None
        match = request.resolver_match
        if match is not None and match.url_name in MFA_EXEMPT:
            return None
        if not request_access(request).is_admin or session_verified(request):
            return None
        target = reverse("mfa")
        if request.headers.get("HX-Request"):
            # A fragment request would swap the enrollment page into a table cell.
            response = HttpResponse(status=204)
            response["HX-Redirect"] = target
            return response
        return redirect(target)

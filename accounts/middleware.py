from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import translation

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

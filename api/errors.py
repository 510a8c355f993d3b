"""One error body for every API answer: {"error": {"code", "message", "fields"}}.

DRF's exceptions (validation, throttling, …) go through `exception_handler`; answers made
outside DRF (the token middleware, Django's own 404/403/500 under /api/) through `body`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

from api.authentication import WWW_AUTHENTICATE

CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "throttled",
    500: "server_error",
}


def body(status_code: int, message: str, *, code: str = "", fields: Any = None) -> dict[str, Any]:
    return {
        "error": {
            "code": code or CODES.get(status_code, "error"),
            "message": message,
            "fields": fields or {},
        }
    }


def json_error(status_code: int, message: str, *, code: str = "") -> JsonResponse:
    response = JsonResponse(body(status_code, message, code=code), status=status_code)
    if status_code == 401:
        response["WWW-Authenticate"] = WWW_AUTHENTICATE
    return response


def unauthenticated(request: HttpRequest | None = None, invalid: bool = False) -> JsonResponse:
    if invalid:
        response = json_error(
            401, _("The token is unknown, expired or revoked."), code="invalid_token"
        )
        response["WWW-Authenticate"] = WWW_AUTHENTICATE + ', error="invalid_token"'
        return response
    return json_error(401, _("Authentication required: send Authorization: Bearer <token>."))


def _fields(detail: Any) -> dict[str, Any]:
    if isinstance(detail, dict):
        return {
            k: _fields(v) if isinstance(v, dict) else [str(x) for x in _list(v)]
            for k, v in detail.items()
        }
    return {"non_field_errors": [str(x) for x in _list(detail)]}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(_("Not found."))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(_("Your role does not allow this."))
    response = drf_handler(exc, context)
    if response is None:
        return None  # a real bug: Django's 500, turned into JSON by api.middleware
    if isinstance(exc, exceptions.ValidationError):
        response.data = body(
            response.status_code, _("The request has invalid fields."), fields=_fields(exc.detail)
        )
        return response
    code = getattr(exc, "default_code", "") if isinstance(exc, exceptions.APIException) else ""
    detail = getattr(exc, "detail", "")
    message = str(detail) if not isinstance(detail, (dict, list)) else _("Request refused.")
    if response.status_code == status.HTTP_401_UNAUTHORIZED:
        response["WWW-Authenticate"] = WWW_AUTHENTICATE
    response.data = body(response.status_code, message, code=_code(response.status_code, code))
    return response


def _code(status_code: int, drf_code: str) -> str:
    # DRF's codes are fine words, but one vocabulary per status keeps clients simple.
    return CODES.get(status_code, drf_code or "error")

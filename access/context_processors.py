from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from access.services import request_access


def access(request: HttpRequest) -> dict[str, Any]:
    """`access` in templates, to offer only the buttons the account may use."""
    return {"access": SimpleLazyObject(lambda: request_access(request))}

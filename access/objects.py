"""Object-level checks (IDOR): an object outside the account's scope does not exist for it
(404, so that a name cannot be probed), one in scope that the role may not change is 403."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from access.roles import Perm
from access.services import request_access


def check_host(request: HttpRequest, labels: dict[str, Any] | None, perm: Perm = Perm.VIEW) -> None:
    """Raise unless the request may use `perm` on a host with these labels."""
    access = request_access(request)
    if not access.scope.allows_labels(labels):
        raise Http404("no such host")
    if not access.can(perm):
        raise PermissionDenied

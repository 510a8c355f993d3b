"""The access policy as a DRF permission (api.base re-exports it).

Imports nothing from rest_framework.views at run time: DRF reads its default permission
class while that module is being imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework import exceptions
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from access.policy import policy_of
from access.services import request_access

if TYPE_CHECKING:
    from rest_framework.views import APIView


class DeclaredPolicy(BasePermission):
    """The view's access.policy declaration, checked by DRF too (api.middleware checked it
    first): a view reached another way (APIRequestFactory, a subclass) is still guarded."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        policy = policy_of(type(view))
        if policy is None:
            return False
        if policy.kind in ("public", "custom"):
            return True
        access = request_access(request)  # type: ignore[arg-type]
        if not access.signed_in:
            raise exceptions.NotAuthenticated
        if policy.kind == "signed_in":
            return True
        wanted = policy.perm_for(request.method or "GET")
        return wanted is not None and access.can(wanted)

"""Every view declares who may use it; a view that declares nothing answers 403.

    @allow(Perm.HOST_EDIT)      the role must grant the permission (objects: access.objects)
    @signed_in                  any signed-in account (its own language, its own mail)
    @public                     no sign-in (health, login); also LoginRequiredMiddleware's mark
    @custom("why")              the view checks for itself (e.g. /metrics: a token or a peer)

The middleware checks the declaration before the view runs, and
tests/access/test_access_matrix.py walks every URL of the resolver with every role: a new
URL without a declaration fails the suite, and one that answers more than its declaration
says fails it too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from access.roles import Perm
from access.services import request_access

log = logging.getLogger(__name__)

V = TypeVar("V", bound=Callable[..., Any])

ATTR = "access_policy"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Policy:
    kind: str  # "perm" | "signed_in" | "public" | "custom"
    perm: Perm | None = None
    # For POST, PUT, PATCH, DELETE when it differs from reading (a page with its form).
    write: Perm | None = None
    note: str = ""

    def __str__(self) -> str:
        if self.perm is None:
            return self.kind
        return f"{self.perm}" + (f", write: {self.write}" if self.write else "")

    def perm_for(self, method: str) -> Perm | None:
        if method in SAFE_METHODS:
            return self.perm
        return self.write or self.perm


def _declare(view: V, policy: Policy) -> V:
    setattr(view, ATTR, policy)
    return view


def allow(perm: Perm, *, write: Perm | None = None) -> Callable[[V], V]:
    def decorate(view: V) -> V:
        return _declare(view, Policy("perm", perm, write=write))

    return decorate


def signed_in(view: V) -> V:
    return _declare(view, Policy("signed_in"))


def public(view: V) -> V:
    return _declare(login_not_required(view), Policy("public"))


def custom(note: str) -> Callable[[V], V]:
    """The view decides for itself, anonymous callers included (it is login_not_required)."""

    def decorate(view: V) -> V:
        return _declare(login_not_required(view), Policy("custom", note=note))

    return decorate


def policy_of(view: Callable[..., Any]) -> Policy | None:
    policy = getattr(view, ATTR, None)
    if policy is None:
        # Class-based views: as_view() keeps the class on the function.
        cls = getattr(view, "view_class", None)
        policy = getattr(cls, ATTR, None)
    return policy


def admin_site_policy() -> Policy:
    return Policy("perm", Perm.USERS, note="Django's admin site: admins only")


class AccessPolicyMiddleware:
    """After AuthenticationMiddleware and LoginRequiredMiddleware: anonymous requests to a
    non-public view were already sent to the login page."""

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
        match = request.resolver_match
        if match is not None and "admin" in match.namespaces:
            # The admin site has its own login page; once signed in, only admins pass.
            if request.user.is_authenticated and not request_access(request).can(Perm.USERS):
                raise PermissionDenied
            return None
        policy = policy_of(view)
        if policy is None:
            log.error("no access policy declared for %s: refused", request.path)
            raise PermissionDenied
        if policy.kind in ("public", "custom"):
            return None
        access = request_access(request)
        if not access.signed_in:
            raise PermissionDenied
        wanted = policy.perm_for(request.method or "GET")
        if policy.kind == "perm" and (wanted is None or not access.can(wanted)):
            raise PermissionDenied
        return None

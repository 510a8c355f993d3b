"""An account's access, computed once per request: its role, its scope, what it may do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest

from access.models import AccessProfile
from access.roles import ALWAYS_SCOPED, Perm, Role, grants
from access.scope import Scope


@dataclass(frozen=True)
class Access:
    role: Role | None  # None: not signed in
    scope: Scope
    user_id: int | None = None

    @property
    def signed_in(self) -> bool:
        return self.role is not None

    def can(self, perm: Perm | str) -> bool:
        return self.role is not None and grants(self.role, Perm(perm))

    def can_on(self, perm: Perm | str, labels: dict[str, Any] | None) -> bool:
        """`perm` on one host, given its labels: the role grants it and the host is in scope."""
        return self.can(perm) and self.scope.allows_labels(labels)

    # Template conveniences ({% if access.is_admin %}).
    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


NOBODY = Access(role=None, scope=Scope.of_teams([]))


def access_for(user: AbstractBaseUser | AnonymousUser) -> Access:
    if not user.is_authenticated:
        return NOBODY
    if getattr(user, "is_superuser", False):
        return Access(role=Role.ADMIN, scope=Scope.everything(), user_id=user.pk)
    # One query, role and teams together: read on every request, so that a role taken
    # away takes effect at the next click, not at the next sign-in.
    rows = list(AccessProfile.objects.filter(user_id=user.pk).values_list("role", "teams__label"))
    if not rows:
        return Access(role=Role.VIEWER, scope=Scope.everything(), user_id=user.pk)
    role = Role(rows[0][0])
    if role == Role.ADMIN:
        return Access(role=role, scope=Scope.everything(), user_id=user.pk)
    teams = [label for _, label in rows if label]
    scoped = bool(teams) or role in ALWAYS_SCOPED
    scope = Scope.of_teams(teams) if scoped else Scope.everything()
    return Access(role=role, scope=scope, user_id=user.pk)


def request_access(request: HttpRequest) -> Access:
    """The request's access, computed on first use and kept on the request."""
    cached: Access | None = getattr(request, "_posture_access", None)
    if cached is None:
        cached = access_for(request.user)
        request._posture_access = cached  # type: ignore[attr-defined]
    return cached


def set_role(user: AbstractBaseUser, role: Role | str, teams: list[Any] | None = None) -> None:
    profile, _ = AccessProfile.objects.update_or_create(user_id=user.pk, defaults={"role": role})
    if teams is not None:
        profile.teams.set(teams)

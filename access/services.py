"""An account's access, computed once per request: its role, its scope, what it may do."""

from __future__ import annotations

from collections.abc import Iterable
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
    return access_for_users([user])[int(user.pk)]  # type: ignore[list-item]


def access_for_users(users: Iterable[AbstractBaseUser]) -> dict[int, Access]:
    """Each user's access in one query for all of them (alert fan-out asks for every
    subscriber of an event). Role and teams are read together, on every call: a role taken
    away takes effect at the next click or the next mail, not at the next sign-in."""
    people = list(users)
    profiles: dict[int, tuple[str, list[str]]] = {}
    ids = [int(u.pk) for u in people if not getattr(u, "is_superuser", False)]
    if ids:
        rows = AccessProfile.objects.filter(user_id__in=ids).values_list(
            "user_id", "role", "teams__label"
        )
        for user_id, role, label in rows:
            profiles.setdefault(user_id, (role, []))[1].extend([label] if label else [])
    return {int(u.pk): _access(int(u.pk), u, profiles.get(int(u.pk))) for u in people}


def _access(pk: int, user: AbstractBaseUser, profile: tuple[str, list[str]] | None) -> Access:
    if getattr(user, "is_superuser", False):
        return Access(role=Role.ADMIN, scope=Scope.everything(), user_id=pk)
    if profile is None:
        return Access(role=Role.VIEWER, scope=Scope.everything(), user_id=pk)
    role, teams = Role(profile[0]), profile[1]
    if role == Role.ADMIN:
        return Access(role=role, scope=Scope.everything(), user_id=pk)
    scoped = bool(teams) or role in ALWAYS_SCOPED
    return Access(
        role=role, scope=Scope.of_teams(teams) if scoped else Scope.everything(), user_id=pk
    )


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

"""Accounts and teams as admins manage them in the app, each change in the audit trail.

There is no password an admin could choose or read: a new account gets an unusable
password and a one-time link (Django's password-reset token) to set its own. The link is
shown once, to the admin who made the account, and dies when the password is set.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_otp.plugins.otp_totp.models import TOTPDevice

from access.models import AccessProfile, Team
from access.roles import Role
from access.services import set_role
from accounts import mfa
from audit.services import diff, record


def listing() -> QuerySet[Any]:
    """Every account with what the list shows, in a fixed number of queries."""
    enrolled = TOTPDevice.objects.filter(user_id=OuterRef("pk"), confirmed=True)
    return (
        User.objects.select_related("access_profile")
        .prefetch_related("access_profile__teams")
        .annotate(mfa=Exists(enrolled))
        .order_by("username")
    )


def role_of(user: User) -> Role:
    if getattr(user, "is_superuser", False):
        return Role.ADMIN
    profile = AccessProfile.objects.filter(user_id=user.pk).first()
    return Role(profile.role) if profile else Role.VIEWER


def teams_of(user: User) -> list[Team]:
    return list(Team.objects.filter(members__user_id=user.pk))


def state(user: User) -> dict[str, Any]:
    """What the audit trail compares before and after an edit."""
    return {
        "role": str(role_of(user)),
        "teams": sorted(team.label for team in teams_of(user)),
        "active": user.is_active,
    }


def invite_path(user: User) -> str:
    """The set-password page for `user`, valid until the password changes or
    PASSWORD_RESET_TIMEOUT passes (Django's token covers the password hash and last login)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse("welcome", args=[uid, default_token_generator.make_token(user)])


@transaction.atomic
def create_user(
    request: HttpRequest, *, username: str, email: str, role: str, teams: Iterable[Team]
) -> User:
    user = User(username=username, email=email)
    user.set_unusable_password()
    user.save()
    set_role(user, role, teams=list(teams))
    after = state(user)
    record(
        "user.created",
        request=request,
        target=user,
        changes={key: (None, value) for key, value in after.items()},
    )
    return user


@transaction.atomic
def update_user(
    request: HttpRequest, user: User, *, role: str, teams: Iterable[Team], active: bool
) -> dict[str, tuple[Any, Any]]:
    before = state(user)
    set_role(user, role, teams=list(teams))
    if user.is_active != active:
        user.is_active = active
        user.save(update_fields=["is_active"])
    changes = diff(before, state(user))
    if changes:
        record("user.updated", request=request, target=user, changes=changes)
    if "active" in changes and not active:
        record("user.deactivated", request=request, target=user)
    return changes


def remove_mfa(request: HttpRequest, user: User) -> bool:
    """A lost phone: the person signs in with the password alone until they enroll again."""
    if not mfa.remove(user):
        return False
    record("user.updated", request=request, target=user, changes={"mfa": (True, False)})
    return True


def locked_out(user: User) -> bool:
    """Some address is locked out of this account (django-axes) right now."""
    cutoff = timezone.now() - settings.AXES_COOLOFF_TIME
    return AccessAttempt.objects.filter(
        username=user.get_username(),
        failures_since_start__gte=settings.AXES_FAILURE_LIMIT,
        attempt_time__gte=cutoff,
    ).exists()


def unlock(request: HttpRequest, user: User) -> int:
    """Lifts the lock on this account from every address, as `manage.py axes_reset_username`."""
    lifted = axes_reset(username=user.get_username())
    if lifted:
        record("user.updated", request=request, target=user, details={"unlocked": lifted})
    return lifted


def new_invite(request: HttpRequest, user: User) -> str:
    """A fresh set-password link (a forgotten password): the current password stops working,
    so that the link is the only way in, and the audit trail says who issued it."""
    with transaction.atomic():
        user.set_unusable_password()
        user.save(update_fields=["password"])
        record(
            "user.updated",
            request=request,
            target=user,
            details={"password": "reset: a set-password link was issued"},
        )
    return invite_path(user)


@transaction.atomic
def create_team(request: HttpRequest, *, name: str, label: str) -> Team:
    team = Team.objects.create(name=name, label=label)
    record(
        "team.created",
        request=request,
        target=team,
        changes={"name": (None, name), "label": (None, label)},
    )
    return team


@transaction.atomic
def update_team(request: HttpRequest, team: Team, *, name: str, label: str) -> None:
    before = Team.objects.values("name", "label").get(pk=team.pk)
    team.name, team.label = name, label
    team.save(update_fields=["name", "label"])
    changes = diff(before, {"name": name, "label": label})
    if changes:
        record("team.updated", request=request, target=team, changes=changes)


class TeamHasMembers(Exception):
    """A viewer or security account whose last team went away would see the whole fleet
    (access.services: no team means no limit for them): members are moved first."""


@transaction.atomic
def delete_team(request: HttpRequest, team: Team) -> None:
    if team.members.exists():
        raise TeamHasMembers(team.name)
    record(
        "team.deleted",
        request=request,
        target=team,
        details={"name": team.name, "label": team.label},
    )
    team.delete()

"""Issuing, finding and bounding API tokens.

A token acts with its own role and teams, bounded at every use by what its creator (and the
account it acts as) may do NOW: a creator who lost a role or a team takes it from their
tokens at the next call, as a session loses it at the next click (access.services).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.cache import caches
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from access.models import Team
from access.roles import GRANTS, Role
from access.scope import Scope
from access.services import Access, access_for
from api.models import ApiToken
from audit.services import record

PREFIX = "pst_"
# Roles ordered by what they grant (each grants all the one below it does; tests check it).
RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.SECURITY: 2, Role.ADMIN: 3}


@dataclass(frozen=True)
class Issued:
    token: ApiToken
    secret: str  # the whole `pst_…` string: shown once, never stored


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def lowest(*roles: Role) -> Role:
    return min(roles, key=lambda r: RANK[r])


def intersect(a: Scope, b: Scope) -> Scope:
    if a.all_hosts:
        return b
    if b.all_hosts:
        return a
    return Scope.of_teams(sorted(set(a.teams) & set(b.teams)))


def scope_errors(creator: Access, role: Role, teams: list[Team]) -> dict[str, str]:
    """Why a token with this role and these teams would be wider than its creator."""
    errors: dict[str, str] = {}
    if creator.role is None or RANK[role] > RANK[Role(creator.role)]:
        errors["role"] = _("A token cannot have a higher role than yours.")
    labels = {t.label for t in teams}
    if not creator.scope.all_hosts:
        if not labels:
            errors["teams"] = _("Choose one or more of your teams: you do not see the whole fleet.")
        elif not labels <= set(creator.scope.teams):
            errors["teams"] = _("A token can only have teams you belong to.")
    if role == Role.OPERATOR and not labels and "teams" not in errors:
        errors["teams"] = _("An operator token needs a team: without one it sees no host.")
    return errors


def max_days() -> int:
    return int(settings.POSTURE_API["TOKEN_MAX_DAYS"])


def issue(
    *,
    creator: AbstractBaseUser,
    name: str,
    role: Role,
    teams: list[Team],
    days: int,
    user: AbstractBaseUser | None = None,
    request: HttpRequest | None = None,
) -> Issued:
    """Create a token. Callers validate first (scope_errors, 1 <= days <= max_days())."""
    key = secrets.token_hex(6)
    raw = f"{PREFIX}{key}_{secrets.token_urlsafe(32)}"
    creator_access = access_for(creator)
    scoped = bool(teams) or role == Role.OPERATOR or not creator_access.scope.all_hosts
    token = ApiToken.objects.create(
        key=key,
        digest=_digest(raw),
        name=name,
        user=user or creator,  # type: ignore[misc]
        created_by=creator,  # type: ignore[misc]
        role=role,
        scoped=scoped,
        expires_at=timezone.now() + timedelta(days=days),
    )
    token.teams.set(teams)
    record(
        "api.token_created",
        request=request,
        actor=creator,
        target=token,
        details={"role": role, "teams": sorted(t.label for t in teams), "days": days},
    )
    return Issued(token, raw)


def revoke(token: ApiToken, *, request: HttpRequest | None = None) -> None:
    if token.revoked_at is None:
        ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
        token.revoked_at = timezone.now()
        record("api.token_revoked", request=request, target=token)


def find(raw: str) -> ApiToken | None:
    """The active token this string is, or None (unknown, wrong secret, expired, revoked)."""
    if not raw.startswith(PREFIX):
        return None
    parts = raw.split("_", 2)
    if len(parts) != 3:
        return None
    token = (
        ApiToken.objects.select_related("user", "created_by")
        .prefetch_related("teams")
        .filter(key=parts[1])
        .first()
    )
    if token is None or not hmac.compare_digest(token.digest, _digest(raw)):
        return None
    return token if token.active else None


def token_access(token: ApiToken) -> Access | None:
    """The token's access now: its role and teams, within its creator's current ones. None
    when its account or its creator is disabled, or the creator has no role left.

    A token acts as its creator, or as a service account (no password, no role of its own
    that matters: the token's, bounded by the admin who issued it, is all it has)."""
    if not (token.user.is_active and token.created_by.is_active):
        return None
    creator = access_for(token.created_by)
    if creator.role is None:
        return None
    role = lowest(Role(token.role), Role(creator.role))
    labels = [t.label for t in token.teams.all()]
    scope = Scope.of_teams(labels) if token.scoped else Scope.everything()
    return Access(role=role, scope=intersect(scope, creator.scope), user_id=int(token.user.pk))


def grants_nested() -> bool:
    """RANK is only a sound bound if each role grants everything the one below does."""
    ordered = sorted(RANK, key=lambda r: RANK[r])
    return all(GRANTS[a] <= GRANTS[b] for a, b in zip(ordered, ordered[1:], strict=False))


def note_use(token: ApiToken, request: HttpRequest) -> None:
    """Count a call. The first call of each minute writes the row (last use, count) and one
    `api.token_used` audit event; the others only bump a counter in the shared cache, so a
    CI job polling a scan does not write the database, or the audit trail, on every call."""
    cache = caches["api"]
    pending_key = f"api:pending:{token.key}"
    if not cache.add(f"api:used:{token.key}", 1, 60):
        if not cache.add(pending_key, 1, None):
            try:
                cache.incr(pending_key)
            except ValueError:  # expired between add and incr
                cache.add(pending_key, 1, None)
        return
    calls = 1 + int(cache.get(pending_key) or 0)
    cache.delete(pending_key)
    now = timezone.now()
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, uses=F("uses") + calls)
    details: dict[str, Any] = {"calls": calls, "method": request.method, "path": request.path}
    record("api.token_used", request=request, actor=token.user, target=token, details=details)

"""API tokens: stored as a digest, shown once, bounded by their creator now and later."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from access.models import Team
from access.roles import Role
from access.services import access_for, set_role
from api.models import ApiToken
from api.tokens import find, grants_nested, issue, revoke, scope_errors, token_access
from audit.models import AuditEvent
from tests.api.conftest import bearer
from tests.factories import HostFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_only_the_digest_is_stored_and_the_secret_is_recognisable() -> None:
    issued = issue(creator=UserFactory(), name="ci", role=Role.VIEWER, teams=[], days=90)
    raw = issued.secret
    assert raw.startswith("pst_") and len(raw) > 40
    row = ApiToken.objects.get(pk=issued.token.pk)
    assert row.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(ApiToken.objects.filter(pk=row.pk).values().get())
    assert find(raw) == row
    assert find(raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None
    assert AuditEvent.objects.filter(action="api.token_created", target_id=str(row.pk)).exists()


def test_expired_and_revoked_tokens_are_refused(api: Client) -> None:
    user = UserFactory()
    issued = issue(creator=user, name="ci", role=Role.VIEWER, teams=[], days=1)
    assert api.get("/api/v1/rules/", **bearer(issued.secret)).status_code == 200
    ApiToken.objects.filter(pk=issued.token.pk).update(expires_at=timezone.now() - timedelta(1))
    assert api.get("/api/v1/rules/", **bearer(issued.secret)).status_code == 401
    other = issue(creator=user, name="ci2", role=Role.VIEWER, teams=[], days=1)
    revoke(other.token)
    refused = api.get("/api/v1/rules/", **bearer(other.secret))
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_token"
    assert AuditEvent.objects.filter(action="api.token_revoked").exists()


def test_a_token_cannot_be_wider_than_its_creator() -> None:
    pay = Team.objects.create(name="Payments", label="pay")
    web = Team.objects.create(name="Web", label="web")
    operator = access_for(UserFactory(role="operator", role__teams=[pay]))
    assert "role" in scope_errors(operator, Role.SECURITY, [pay])
    assert "teams" in scope_errors(operator, Role.OPERATOR, [web])
    assert "teams" in scope_errors(operator, Role.VIEWER, [])  # "every host" is wider
    assert scope_errors(operator, Role.VIEWER, [pay]) == {}
    assert grants_nested(), "RANK must order roles by what they grant"


def test_a_demoted_creator_takes_the_role_and_teams_from_their_tokens(api: Client) -> None:
    web = Team.objects.create(name="Web", label="web")
    HostFactory(name="pay-1", labels={"team": "pay"})
    HostFactory(name="web-1", labels={"team": "web"})
    creator = UserFactory(role="security")
    issued = issue(creator=creator, name="ci", role=Role.SECURITY, teams=[], days=30)
    access = token_access(issued.token)
    assert access is not None and access.role == Role.SECURITY and access.scope.all_hosts

    set_role(creator, Role.OPERATOR, [web])
    shrunk = token_access(ApiToken.objects.get(pk=issued.token.pk))
    assert shrunk is not None and shrunk.role == Role.OPERATOR
    assert shrunk.scope.teams == ("web",)
    names = [
        h["name"] for h in api.get("/api/v1/hosts/", **bearer(issued.secret)).json()["results"]
    ]
    assert names == ["web-1"]
    assert api.get("/api/v1/hosts/pay-1/", **bearer(issued.secret)).status_code == 404

    creator.is_active = False
    creator.save()
    assert api.get("/api/v1/hosts/", **bearer(issued.secret)).status_code == 401


def test_a_call_is_counted_and_audited_once_a_minute(api: Client, token_for: Any) -> None:
    raw = token_for(UserFactory(role="viewer"), role="viewer")
    for _ in range(3):
        assert api.get("/api/v1/rules/", **bearer(raw)).status_code == 200
    token = ApiToken.objects.get()
    assert token.last_used_at is not None and token.uses == 1
    events = AuditEvent.objects.filter(action="api.token_used", target_id=str(token.pk))
    assert events.count() == 1
    assert events.get().details["path"] == "/api/v1/rules/"
    assert api.get("/api/v1/rules/", **bearer(raw)).get("Set-Cookie") is None, "no session"

"""Who may call the API: 401 with WWW-Authenticate for no or a bad token (never the login
page), 403 for a role without the permission, CSRF for a browser session's writes."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.api.conftest import bearer
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_anonymous_call_is_401_json_with_www_authenticate(api: Client) -> None:
    response = api.get("/api/v1/schema/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "not_authenticated"


def test_bad_token_is_401_invalid_token(api: Client) -> None:
    response = api.get("/api/v1/schema/", **bearer("pst_0123456789ab_nope"))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert response.json()["error"]["code"] == "invalid_token"


def test_token_authenticates_and_unknown_route_is_json_404(api: Client, token_for: Any) -> None:
    raw = token_for(UserFactory(role="viewer"), role="viewer")
    assert api.get("/api/v1/schema/", **bearer(raw)).status_code == 200
    missing = api.get("/api/v1/nothing-here/", **bearer(raw))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"

"""Who may call the API: 401 with WWW-Authenticate for no or a bad token (never the login
page), 403 for a role without the permission, CSRF for a browser session's writes."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from access.models import Team
from tests.api.conftest import bearer
from tests.factories import HostFactory, UserFactory

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


def test_a_role_without_the_permission_is_403_json(api: Client, token_for: Any) -> None:
    raw = token_for(UserFactory(role="viewer"), role="viewer")
    refused = api.post("/api/v1/hosts/", {}, content_type="application/json", **bearer(raw))
    assert refused.status_code == 403
    assert refused.json() == {
        "error": {"code": "forbidden", "message": refused.json()["error"]["message"], "fields": {}}
    }


def test_another_teams_host_is_404_not_403(api: Client, token_for: Any) -> None:
    web = Team.objects.create(name="Web", label="web")
    HostFactory(name="pay-1", labels={"team": "pay"})
    raw = token_for(
        UserFactory(role="operator", role__teams=[web]), role="operator", teams=("web",)
    )
    for url in ("/api/v1/hosts/pay-1/", "/api/v1/hosts/pay-1/posture/"):
        answer = api.get(url, **bearer(raw))
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
    scan = api.post("/api/v1/hosts/pay-1/scans/", **bearer(raw))
    assert scan.status_code == 404


def test_a_browser_session_needs_the_csrf_token_to_write(api: Client) -> None:
    api.force_login(UserFactory())
    assert api.get("/api/v1/hosts/").status_code == 200
    refused = api.post("/api/v1/hosts/", {}, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]["message"]
    api.get("/account/tokens/")  # any page: sets the csrftoken cookie
    token = api.cookies["csrftoken"].value
    sent = api.post("/api/v1/hosts/", {}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert sent.status_code == 400, "past CSRF, refused by the host form"

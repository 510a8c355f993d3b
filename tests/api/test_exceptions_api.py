"""Risk exceptions through the API: listed within the token's scope, requested with the
page's own validation and four-eyes rules, revoked once; each step audited."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from policy.models import RiskException
from tests.api.conftest import bearer
from tests.factories import HostFactory, RiskExceptionFactory, UserFactory

pytestmark = pytest.mark.django_db

REQUEST = {
    "rule_id": "CTR-PRIVILEGED",
    "host": "pay-1",
    "reason": "vendor appliance, replaced in Q3",
    "owner": "payments@example.org",
    "expires_in": 30,
}


@pytest.fixture
def world() -> dict[str, Any]:
    pay = HostFactory(name="pay-1", labels={"team": "pay"})
    web = HostFactory(name="web-1", labels={"team": "web"})
    return {
        "pay": RiskExceptionFactory(host=pay),
        "web": RiskExceptionFactory(host=web),
        "pattern": RiskExceptionFactory(container_pattern="legacy-*"),
        "expired": RiskExceptionFactory(host=pay, days=-1),
        "admin": UserFactory(),
    }


def post(client: Client, raw: str, url: str, data: Any = None) -> Any:
    body = json.dumps(data if data is not None else {})
    return client.post(url, body, content_type="application/json", **bearer(raw))


def ids(page: dict[str, Any]) -> set[int]:
    return {row["id"] for row in page["results"]}


def test_list_is_scoped_and_filtered_by_state(
    api: Client, token_for: Callable[..., str], world: dict[str, Any]
) -> None:
    raw = token_for(world["admin"], "operator", ("pay",))
    listed = api.get("/api/v1/exceptions/", **bearer(raw)).json()
    assert ids(listed) == {world[n].pk for n in ("pay", "pattern", "expired")}
    row = next(r for r in listed["results"] if r["id"] == world["pay"].pk)
    assert row["host"] == "pay-1" and row["state"] == "active" and row["rule_id"]
    active = api.get("/api/v1/exceptions/?status=active", **bearer(raw)).json()
    assert ids(active) == {world["pay"].pk, world["pattern"].pk}
    expired = api.get("/api/v1/exceptions/?status=expired", **bearer(raw)).json()
    assert ids(expired) == {world["expired"].pk}
    assert api.get(f"/api/v1/exceptions/{world['pay'].pk}/", **bearer(raw)).status_code == 200
    assert api.get(f"/api/v1/exceptions/{world['web'].pk}/", **bearer(raw)).status_code == 404


def test_an_operator_requests_and_waits_for_an_approver(
    api: Client, token_for: Callable[..., str], world: dict[str, Any]
) -> None:
    raw = token_for(world["admin"], "operator", ("pay",))
    response = post(api, raw, "/api/v1/exceptions/", REQUEST)
    assert response.status_code == 201, response.content
    made = response.json()
    assert made["state"] == "pending" and made["host"] == "pay-1"
    assert made["requested_by"] == world["admin"].username  # the token acts as its user
    exc = RiskException.objects.get(pk=made["id"])
    assert exc.expires_at.date() == timezone.localdate() + timedelta(days=30)
    event = AuditEvent.objects.get(action="exception.requested")
    assert event.target_id == str(exc.pk) and event.actor == world["admin"]


@pytest.mark.parametrize(("four_eyes", "state"), [(False, "active"), (True, "pending")])
def test_an_approver_token_follows_the_four_eyes_setting(
    api: Client,
    token_for: Callable[..., str],
    world: dict[str, Any],
    settings: Any,
    four_eyes: bool,
    state: str,
) -> None:
    settings.POSTURE_FOUR_EYES = four_eyes
    raw = token_for(world["admin"], "security")
    made = post(api, raw, "/api/v1/exceptions/", {**REQUEST, "label": "team=pay", "host": ""})
    assert made.status_code == 201, made.content
    assert made.json()["state"] == state and made.json()["label"] == "team=pay"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"reason": "  "}, "reason"),
        ({"host": "web-1"}, "host"),  # another team's host: "no host of that name"
        ({"host": "", "label": "team=web"}, "non_field_errors"),
        ({"rule_id": "NOT-A-RULE"}, "rule_id"),
        ({"expires_in": None, "expires_on": "2000-01-01"}, "expires_on"),
        ({"container_pattern": ["a", "b"]}, "container_pattern"),
    ],
)
def test_a_bad_request_is_refused_with_the_forms_words(
    api: Client, token_for: Callable[..., str], world: dict[str, Any], change: Any, field: str
) -> None:
    raw = token_for(world["admin"], "operator", ("pay",))
    before = RiskException.objects.count()
    response = post(api, raw, "/api/v1/exceptions/", {**REQUEST, **change})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid" and error["fields"][field], error
    assert RiskException.objects.count() == before


def test_a_body_that_is_not_an_object_is_refused(
    api: Client, token_for: Callable[..., str], world: dict[str, Any]
) -> None:
    raw = token_for(world["admin"], "operator", ("pay",))
    assert post(api, raw, "/api/v1/exceptions/", [REQUEST]).status_code == 400


def test_a_viewer_cannot_request(
    api: Client, token_for: Callable[..., str], world: dict[str, Any]
) -> None:
    raw = token_for(world["admin"], "viewer")
    assert post(api, raw, "/api/v1/exceptions/", REQUEST).status_code == 403
    assert not AuditEvent.objects.filter(action="exception.requested").exists()


def test_revoke_once_within_scope(
    api: Client, token_for: Callable[..., str], world: dict[str, Any]
) -> None:
    url = f"/api/v1/exceptions/{world['pay'].pk}/revoke/"
    assert post(api, token_for(world["admin"], "operator", ("pay",)), url).status_code == 403
    assert post(api, token_for(world["admin"], "security", ("web",)), url).status_code == 404
    raw = token_for(world["admin"], "security")
    revoked = post(api, raw, url)
    assert revoked.status_code == 200, revoked.content
    assert revoked.json()["state"] == "revoked"
    assert revoked.json()["revoked_by"] == world["admin"].username
    assert AuditEvent.objects.filter(action="exception.revoked").count() == 1
    again = post(api, raw, url)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    expired = post(api, raw, f"/api/v1/exceptions/{world['expired'].pk}/revoke/")
    assert expired.status_code == 409
    assert AuditEvent.objects.filter(action="exception.revoked").count() == 1

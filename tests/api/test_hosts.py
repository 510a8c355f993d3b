"""Hosts through the API: the host form's checks, keys write-only, scope as on the pages."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from access.models import Team
from audit.models import AuditEvent
from hosts.models import Host
from tests.api.conftest import bearer
from tests.factories import HostFactory, HostPostureFactory, UserFactory, make_ssh_pem

pytestmark = pytest.mark.django_db


def ssh_host(name: str = "api-1", **extra: Any) -> dict[str, Any]:
    pem = make_ssh_pem()
    return {
        "name": name,
        "endpoint": "ssh://posture@127.0.0.1:22",
        "labels": {"team": "pay", "env": "prod"},
        "ssh_private_key": pem.private_key,
        "ssh_host_key": pem.host_key,
        "enabled": False,
        **extra,
    }


def test_create_read_update_delete_and_the_key_never_comes_back(
    api: Client, token_for: Any
) -> None:
    auth = bearer(token_for(UserFactory(), role="admin"))
    sent = ssh_host()
    created = api.post("/api/v1/hosts/", sent, content_type="application/json", **auth)
    assert created.status_code == 201, created.content
    assert created["Location"] == "/api/v1/hosts/api-1/"
    host = Host.objects.get(name="api-1")
    assert host.has_ssh_private_key and sent["ssh_private_key"] not in host.ssh_private_key_enc
    for answer in (created, api.get("/api/v1/hosts/api-1/", **auth)):
        body = answer.json()
        assert body["has_ssh_private_key"] is True
        assert "ssh_private_key" not in body and "ssh_private_key_enc" not in body
        assert sent["ssh_private_key"] not in answer.content.decode()
    assert AuditEvent.objects.filter(action="host.created", target_id=str(host.pk)).exists()

    patched = api.patch(
        "/api/v1/hosts/api-1/", {"labels": {"team": "pay"}}, content_type="application/json", **auth
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["labels"] == {"team": "pay"}
    host.refresh_from_db()
    assert host.has_ssh_private_key, "a key not sent is kept"

    assert api.delete("/api/v1/hosts/api-1/", **auth).status_code == 204
    assert not Host.objects.filter(name="api-1").exists()
    assert AuditEvent.objects.filter(action="host.deleted").exists()


def test_a_bad_endpoint_is_refused_with_field_errors(api: Client, token_for: Any) -> None:
    auth = bearer(token_for(UserFactory(), role="admin"))
    sent = ssh_host(endpoint="ssh://posture@169.254.169.254:22")
    refused = api.post("/api/v1/hosts/", sent, content_type="application/json", **auth)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "invalid" and "endpoint" in error["fields"], error
    assert not Host.objects.filter(name="api-1").exists()
    missing = api.post("/api/v1/hosts/", {"name": "x"}, content_type="application/json", **auth)
    assert missing.json()["error"]["fields"]["endpoint"]


def test_moving_a_host_needs_its_key_again(api: Client, token_for: Any) -> None:
    auth = bearer(token_for(UserFactory(), role="admin"))
    api.post("/api/v1/hosts/", ssh_host(), content_type="application/json", **auth)
    moved = api.patch(
        "/api/v1/hosts/api-1/",
        {"endpoint": "ssh://posture@127.0.0.2:22"},
        content_type="application/json",
        **auth,
    )
    assert moved.status_code == 400
    assert "ssh_private_key" in moved.json()["error"]["fields"]


def test_an_operator_lists_and_adds_in_its_team_only(api: Client, token_for: Any) -> None:
    HostFactory(name="pay-1", labels={"team": "pay"})
    HostFactory(name="web-1", labels={"team": "web"})
    pay = Team.objects.create(name="Payments", label="pay")
    operator = UserFactory(role="operator", role__teams=[pay])
    auth = bearer(token_for(operator, role="operator", teams=("pay",)))
    listed = api.get("/api/v1/hosts/", **auth).json()
    assert [h["name"] for h in listed["results"]] == ["pay-1"]
    assert api.get("/api/v1/hosts/web-1/", **auth).status_code == 404
    elsewhere = ssh_host(name="web-2", labels={"team": "web"})
    refused = api.post("/api/v1/hosts/", elsewhere, content_type="application/json", **auth)
    assert refused.status_code == 400 and "labels" in refused.json()["error"]["fields"]


def test_filters_and_cursor_pages(api: Client, token_for: Any) -> None:
    for n in range(5):
        HostFactory(name=f"h{n}", labels={"team": "pay" if n % 2 else "web"})
    auth = bearer(token_for(UserFactory(), role="admin"))
    assert [h["name"] for h in api.get("/api/v1/hosts/?team=pay", **auth).json()["results"]] == [
        "h1",
        "h3",
    ]
    assert [h["name"] for h in api.get("/api/v1/hosts/?search=h4", **auth).json()["results"]] == [
        "h4"
    ]
    first = api.get("/api/v1/hosts/?limit=2", **auth).json()
    assert [h["name"] for h in first["results"]] == ["h0", "h1"]
    second = api.get(first["next"], **auth).json()
    assert [h["name"] for h in second["results"]] == ["h2", "h3"]


def test_a_page_of_hosts_costs_the_same_queries_for_2_or_6(api: Client, token_for: Any) -> None:
    auth = bearer(token_for(UserFactory(), role="admin"))
    api.get("/api/v1/hosts/", **auth)  # the minute's first call also records the token's use
    counts = []
    for total in (2, 6):
        while Host.objects.count() < total:
            HostPostureFactory(host=HostFactory(ssh_private_key_enc="sealed"))
        with CaptureQueriesContext(connection) as queries:
            assert len(api.get("/api/v1/hosts/", **auth).json()["results"]) == total
        counts.append(len(queries))
    assert counts[0] == counts[1], counts

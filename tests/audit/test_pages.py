"""/audit/ and /audit.jsonl: admins only; events and model changes in one list, newest
first, filtered, paged by keyset; the export is the same list and is itself recorded."""

from __future__ import annotations

import json
from typing import Any

import pytest
from auditlog.context import set_actor
from auditlog.models import LogEntry
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access.models import Team
from audit import trail
from audit.models import AuditEvent
from audit.services import record
from hosts.models import Host
from tests.factories import HostFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(db: None) -> dict[str, Any]:
    """alice signs in from .7, bob edits a host from .8, then someone fails to sign in."""
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    record("auth.login", actor=alice, target=alice, details={})
    with set_actor(bob, remote_addr="192.0.2.8"):
        host = HostFactory(name="pay-1", owner_email="a@example.org")
        host.owner_email = "b@example.org"
        host.save()
    record(
        "auth.login_failed",
        target_type="user",
        target_id="mallory",
        details={"username": "mallory"},
    )
    return {"alice": alice, "bob": bob, "host": host}


def _page(client: Client, **params: str) -> str:
    response = client.get(reverse("audit"), params)
    assert response.status_code == 200
    return response.content.decode()


def test_one_list_of_events_and_changes_newest_first(admin_client: Client, history: dict[str, Any]):
    page = _page(admin_client)

    order = [
        page.index(s) for s in ("auth.login_failed", "host.update", "host.create", "auth.login<")
    ]
    assert order == sorted(order)
    assert "192.0.2.8" in page and "bob" in page
    assert "a@example.org → b@example.org" in page
    assert "mallory" in page


def test_filters(history: dict[str, Any]):
    def actions(**params: Any) -> list[str]:
        filters = trail.TrailFilters.from_query(params)
        return [row.action for row in trail.page(filters).rows]

    assert actions(actor="BOB") == ["host.update", "host.create"]
    assert actions(target_type="user", action="user.") == ["user.create", "user.create"]
    assert actions(action="host.") == ["host.update", "host.create"]
    assert actions(action="host.up") == ["host.update"]
    assert actions(action="auth.login") == ["auth.login_failed", "auth.login"]
    assert actions(target_type="host", target_id=str(history["host"].pk)) == [
        "host.update",
        "host.create",
    ]
    assert actions(target_type="user", target_id="mallory") == ["auth.login_failed"]
    assert actions(address="192.0.2.8") == ["host.update", "host.create"]
    today = timezone.localdate()
    everything = AuditEvent.objects.count() + LogEntry.objects.count()
    assert len(actions(**{"from": today.isoformat(), "to": today.isoformat()})) == everything
    assert actions(to=(today.replace(year=today.year - 1)).isoformat()) == []


def test_a_malformed_filter_is_named_and_ignored(admin_client: Client, history: dict[str, Any]):
    page = _page(admin_client, address="10.0.0.999", **{"from": "yesterday"})

    assert "“10.0.0.999” is not an IP address." in page
    assert "“yesterday” is not a date (YYYY-MM-DD)." in page
    assert "host.update" in page


def test_htmx_gets_the_list_alone(admin_client: Client, history: dict[str, Any]):
    response = admin_client.get(reverse("audit"), {"actor": "bob"}, HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert body.lstrip().startswith('<div id="trail"') and "<html" not in body
    assert "host.update" in body and "auth.login_failed" not in body


def test_keyset_paging_walks_every_row_once(admin_client: Client, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(trail, "PAGE", 3)
    for n in range(4):
        record("host.updated", source="cli", target_type="host", target_id=str(n))
        Team.objects.create(name=f"Team {n}", label=f"t{n}")

    seen: list[str] = []
    filters = trail.TrailFilters()
    while True:
        current = trail.page(filters)
        seen += [f"{row.kind}{row.id}" for row in current.rows]
        if current.next_cursor is None:
            break
        filters = trail.TrailFilters(before=str(current.next_cursor))
    everything = AuditEvent.objects.count() + LogEntry.objects.count()
    assert len(seen) == len(set(seen)) == everything >= 8

    # The page's "older" link carries the cursor.
    page = _page(admin_client)
    assert "before=" in page
    older = admin_client.get(
        reverse("audit")
        + page.split('rel="next" href="/audit/')[1].split('"')[0].replace("&amp;", "&")
    )
    assert older.status_code == 200 and "« newest" in older.content.decode()


def test_a_malformed_cursor_is_the_first_page(history: dict[str, Any]):
    first = trail.page(trail.TrailFilters()).rows
    assert trail.page(trail.TrailFilters(before="not-a-cursor")).rows == first


def test_the_export_is_the_filtered_list_and_is_recorded(
    admin_client: Client, history: dict[str, Any]
):
    response = admin_client.get(reverse("audit-export"), {"action": "host."})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    assert "attachment" in response["Content-Disposition"]
    lines = [
        json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()
    ]
    assert [(line["kind"], line["action"]) for line in lines] == [
        ("change", "host.update"),
        ("change", "host.create"),
    ]
    assert lines[0]["actor"] == "bob" and lines[0]["address"] == "192.0.2.8"
    assert lines[0]["changes"]["owner_email"] == ["a@example.org", "b@example.org"]
    export = AuditEvent.objects.get(action="export.downloaded")
    assert export.actor_name == "root"
    assert export.details == {"what": "audit.jsonl", "filters": {"action": "host."}}


@pytest.mark.parametrize("role", ["security", "operator", "viewer"])
def test_only_admins_see_the_trail(client: Client, role: str):
    team = Team.objects.create(name="Payments", label="pay")
    client.force_login(UserFactory(username=role, role=role, role__teams=[team]))
    record("auth.login", source="cli")

    assert client.get(reverse("audit")).status_code == 403
    assert client.get(reverse("audit-export")).status_code == 403
    assert not AuditEvent.objects.filter(action="export.downloaded").exists()


def test_hosts_are_not_needed_for_the_page(admin_client: Client):
    assert not Host.objects.exists()
    assert "Nothing recorded matches these filters." in _page(admin_client, actor="nobody")

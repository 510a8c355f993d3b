"""The fleet table and a host's pages per role: an account sees the hosts of its scope only,
a host outside it does not exist (404, so names cannot be probed), and an action the role
lacks on a host in scope is 403. Buttons are offered only for what the account may do."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from findings.models import HostPosture
from hosts.models import Host
from scans.models import ScanRun
from tests.factories import ScanRunFactory
from tests.findings.scoped_fleet import ALL, ROLES, SEES, Fleet, build

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(settings: Any) -> Fleet:
    return build()


def host_names(html: str) -> set[str]:
    return set(re.findall(r'class="host-link" href="/hosts/[^/]+/">([^<]+)</a>', html))


@pytest.mark.parametrize("role", ROLES)
def test_the_fleet_table_and_its_counters_list_the_hosts_in_scope(fleet: Fleet, role: str):
    response = fleet.client(role).get(reverse("fleet"))
    html = response.content.decode()

    assert response.status_code == 200
    assert host_names(html) == SEES[role]
    assert f"<strong>{len(SEES[role])}</strong> hosts" in html


@pytest.mark.parametrize("role", ["operator-pay", "viewer-web"])
def test_a_filter_never_reaches_beyond_the_scope(fleet: Fleet, role: str):
    client = fleet.client(role)

    others = client.get(
        reverse("fleet"), {"label": "team=web" if role == "operator-pay" else "team=pay"}
    )
    searched = client.get(reverse("fleet"), {"q": "lone"})

    assert host_names(others.content.decode()) == set()
    assert host_names(searched.content.decode()) == set()


@pytest.mark.parametrize("role", ROLES)
def test_host_pages_answer_404_outside_the_scope(fleet: Fleet, role: str):
    client = fleet.client(role)
    for name in sorted(ALL):
        # The status partials answer 286 (stop polling) when no scan is active.
        expected = {200, 286} if name in SEES[role] else {404}
        urls = [
            reverse("host-detail", args=[name]),
            reverse("host-status", args=[name]),
            reverse("host-status", args=[name]) + "?row=1",
        ]
        for url in urls:
            assert client.get(url).status_code in expected, (role, url)


@pytest.mark.parametrize(
    "role, host, expected",
    [
        ("admin", "lone", 302),
        ("security", "lone", 302),
        ("operator-pay", "pay-1", 302),
        ("operator-pay", "web-1", 404),
        ("security-web", "pay-1", 404),
        ("viewer", "lone", 403),
        ("viewer-web", "web-1", 403),
        ("viewer-web", "pay-1", 403),  # the role lacks the permission: refused before the host
    ],
)
def test_scan_now_per_role(fleet: Fleet, role: str, host: str, expected: int):
    response = fleet.client(role).post(reverse("host-scan", args=[host]))

    assert response.status_code == expected
    queued = ScanRun.objects.filter(host__name=host, trigger=ScanRun.Trigger.MANUAL).exists()
    assert queued == (expected == 302)
    events = AuditEvent.objects.filter(action="scan.requested", target_repr=host)
    assert events.count() == (1 if expected == 302 else 0)
    if expected == 302:
        event = events.get()
        assert event.actor_name == role
        assert event.target_type == "host"
        assert event.target_id == str(fleet.hosts[host].pk)


@pytest.mark.parametrize(
    "role, host, expected",
    [
        ("admin", "lone", 200),
        ("security", "pay-2", 200),
        ("operator-pay", "pay-1", 200),
        ("operator-pay", "web-1", 404),
        ("operator-pay", "lone", 404),
        ("security-web", "pay-1", 404),
        ("viewer", "pay-1", 403),
        ("viewer-web", "web-1", 403),
    ],
)
def test_edit_and_delete_per_role(fleet: Fleet, role: str, host: str, expected: int):
    client = fleet.client(role)

    assert client.get(reverse("host-edit", args=[host])).status_code == expected
    assert client.get(reverse("host-delete", args=[host])).status_code == expected
    deleted = client.post(reverse("host-delete", args=[host]))

    assert deleted.status_code == (302 if expected == 200 else expected)
    assert Host.objects.filter(name=host).exists() == (expected != 200)


def test_an_operator_cannot_post_an_edit_to_another_teams_host(fleet: Fleet):
    response = fleet.client("operator-pay").post(
        reverse("host-edit", args=["web-1"]),
        {"name": "web-1", "endpoint": "unix:///var/run/docker.sock", "labels": "team=pay"},
    )

    assert response.status_code == 404
    fleet.hosts["web-1"].refresh_from_db()
    assert fleet.hosts["web-1"].labels["team"] == "web"


BUTTONS = {
    "scan": 'action="/hosts/pay-1/scan"',
    "edit": 'href="/hosts/pay-1/edit"',
    "delete": 'href="/hosts/pay-1/delete"',
    "exception": "accept the risk",
}


@pytest.mark.parametrize(
    "role, shown",
    [
        ("admin", {"scan", "edit", "delete", "exception"}),
        ("security", {"scan", "edit", "delete", "exception"}),
        ("operator-pay", {"scan", "edit", "delete", "exception"}),
        ("viewer", set()),
    ],
)
def test_the_host_page_offers_only_the_buttons_the_account_may_use(
    fleet: Fleet, role: str, shown: set[str]
):
    html = fleet.client(role).get(reverse("host-detail", args=["pay-1"])).content.decode()

    assert {name for name, needle in BUTTONS.items() if needle in html} == shown


@pytest.mark.parametrize(
    "role, shown", [("admin", True), ("operator-pay", True), ("viewer", False)]
)
def test_add_host_is_offered_to_those_who_may_add(fleet: Fleet, role: str, shown: bool):
    html = fleet.client(role).get(reverse("fleet")).content.decode()

    assert ('href="/hosts/new"' in html) == shown


@pytest.mark.parametrize(
    "role, detail", [("admin", True), ("operator-pay", True), ("viewer", False)]
)
def test_a_scan_errors_daemon_response_is_shown_to_those_who_may_edit_the_host(
    fleet: Fleet, role: str, detail: bool
):
    host = fleet.hosts["pay-1"]
    body = "HTTP 502 from http://10.0.0.7:8500/v1/kv (internal consul)"
    failed = ScanRunFactory(host=host, failed=True, error_class="daemon_error", error_detail=body)
    HostPosture.objects.filter(host=host).update(
        last_scan=failed, last_error_class="daemon_error", consecutive_failures=1
    )

    html = fleet.client(role).get(reverse("host-detail", args=["pay-1"])).content.decode()

    assert "The last scan failed:" in html  # the error class and its sentence, for everyone
    assert ("10.0.0.7:8500" in html) == detail

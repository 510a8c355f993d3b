"""Rule, container and image pages and the findings exports per role: counted and listed
over the hosts in the account's scope only; a subject none of its hosts has is a 404."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from hosts.models import Host
from tests.findings.scoped_fleet import (
    IMAGE_RULE,
    NGINX_ID,
    ROLES,
    RULE,
    SEES,
    Fleet,
    build,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(settings: Any) -> Fleet:
    return build()


def linked_hosts(html: str) -> set[str]:
    return set(re.findall(r'href="/hosts/([^/"]+)/"', html))


def rules_json(fleet: Fleet, role: str) -> dict[str, Any]:
    response = fleet.client(role).get(reverse("rules-json"))
    assert response.status_code == 200
    data = response.json()
    return {"hosts": data["fleet"]["hosts"], **{r["id"]: r["fleet"] for r in data["rules"]}}


@pytest.mark.parametrize("role", ROLES)
def test_pass_rates_are_counted_over_the_hosts_in_scope(fleet: Fleet, role: str):
    stats = rules_json(fleet, role)
    failing = {n for n in SEES[role] if n != "lone"}  # lone does not run the container

    assert stats[RULE]["hosts_failing"] == len(failing)
    assert stats[RULE]["failing"] == len(failing)


def test_each_scope_keeps_its_own_cached_totals_and_sees_a_host_move(fleet: Fleet):
    assert rules_json(fleet, "operator-pay")[RULE]["hosts_failing"] == 2
    assert rules_json(fleet, "viewer-web")[RULE]["hosts_failing"] == 1
    assert rules_json(fleet, "admin")[RULE]["hosts_failing"] == 3

    # pay-2 moves to team web: no host's share changes, the scopes' figures do.
    Host.objects.filter(name="pay-2").update(labels={"team": "web"})

    assert rules_json(fleet, "operator-pay")[RULE]["hosts_failing"] == 1
    assert rules_json(fleet, "viewer-web")[RULE]["hosts_failing"] == 2
    assert rules_json(fleet, "admin")[RULE]["hosts_failing"] == 3


@pytest.mark.parametrize("role", ROLES)
def test_the_catalogue_and_a_rule_page_show_the_hosts_in_scope(fleet: Fleet, role: str):
    client = fleet.client(role)
    failing = {n for n in SEES[role] if n != "lone"}

    catalogue = client.get(reverse("rules"))
    rule = client.get(reverse("rule-detail", args=[RULE]))
    filtered = client.get(reverse("rule-detail", args=[RULE]), {"label": "team=pay"})

    assert catalogue.status_code == rule.status_code == 200
    assert linked_hosts(rule.content.decode()) == failing
    assert linked_hosts(filtered.content.decode()) == failing & {"pay-1", "pay-2"}


@pytest.mark.parametrize("role", ROLES)
def test_containers_of_a_name_on_the_hosts_in_scope(fleet: Fleet, role: str):
    response = fleet.client(role).get(reverse("containers"), {"name": "shop"})
    running = {n for n in SEES[role] if n != "lone"}

    assert response.status_code == (200 if running else 404)
    if running:
        assert linked_hosts(response.content.decode()) == running


@pytest.mark.parametrize("role", ROLES)
def test_a_container_page_is_404_outside_the_scope(fleet: Fleet, role: str):
    client = fleet.client(role)
    for host, container_id in fleet.containers.items():
        response = client.get(reverse("container-detail", args=[host, container_id]))
        assert response.status_code == (200 if host in SEES[role] else 404), (role, host)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("ref", ["nginx:1.27", NGINX_ID, "redis:7"])
def test_an_image_page_lists_the_hosts_in_scope_and_is_404_when_none_is(
    fleet: Fleet, role: str, ref: str
):
    holders = {"pay-1", "pay-2", "web-1"} if ref != "redis:7" else {"lone"}
    mine = holders & SEES[role]

    response = fleet.client(role).get(reverse("image-detail", args=[ref]))

    assert response.status_code == (200 if mine else 404)
    if mine:
        html = response.content.decode()
        assert linked_hosts(html) == mine
        for other in holders - mine:
            assert other not in html


# --- Exports ------------------------------------------------------------------------------


def export_hosts(fleet: Fleet, role: str, fmt: str, params: dict[str, str]) -> set[str] | int:
    response = fleet.client(role).get(reverse(f"findings-{fmt}"), params)
    if response.status_code != 200:
        return response.status_code
    body = b"".join(response.streaming_content) if response.streaming else response.content
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(body.decode())))[1:]
        return {row[0] for row in rows}
    data = json.loads(body)
    if fmt == "json":
        return {f["host"] for f in data["findings"]}
    results = data["runs"][0]["results"]
    return {loc["logicalLocations"][0]["name"] for r in results for loc in r["locations"]}


@pytest.mark.parametrize("fmt", ["csv", "json", "sarif"])
@pytest.mark.parametrize(
    "role, expected",
    [
        ("admin", {"pay-1", "pay-2", "web-1", "lone"}),
        ("security", {"pay-1", "pay-2", "web-1", "lone"}),
        ("security-web", {"web-1"}),
        ("operator-pay", 403),
        ("viewer", 403),
        ("viewer-web", 403),
    ],
)
def test_exports_hold_the_findings_of_the_hosts_in_scope(
    fleet: Fleet, fmt: str, role: str, expected: set[str] | int
):
    assert export_hosts(fleet, role, fmt, {}) == expected


@pytest.mark.parametrize("fmt", ["csv", "json", "sarif"])
@pytest.mark.parametrize(
    "params", [{"label": "team=pay"}, {"q": "pay-1"}, {"q": "lone", "rule": IMAGE_RULE}]
)
def test_export_filters_never_reach_beyond_the_scope(
    fleet: Fleet, fmt: str, params: dict[str, str]
):
    assert export_hosts(fleet, "security-web", fmt, params) == set()


def test_each_download_is_audited_with_its_filters(fleet: Fleet):
    client = fleet.client("security")

    for fmt in ("csv", "json", "sarif"):
        response = client.get(
            reverse(f"findings-{fmt}"), {"label": "team=pay", "severity": "critical"}
        )
        assert response.status_code == 200

    events = AuditEvent.objects.filter(action="export.downloaded").order_by("pk")
    assert [e.details["what"] for e in events] == [
        "findings.csv",
        "findings.json",
        "findings.sarif",
    ]
    for event in events:
        assert event.actor_name == "security"
        assert event.details["filters"] == {"label": ["team=pay"], "severity": ["critical"]}

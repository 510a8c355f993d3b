"""Roles and scope on the vulnerability pages: what each account sees (the fleet page, one
vulnerability, inventories, the image page's panel), what it may download (and that each
download is in the audit trail), which decisions its VEX holds, who may triage."""

from __future__ import annotations

import csv
import io
import json
from importlib import import_module
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import include, path, reverse

from audit.models import AuditEvent
from hosts.models import Host
from tests.factories import HostFactory
from tests.vulns.factories import (
    DecisionFactory,
    InventoryFactory,
    VulnFactory,
    decision_form,
    place,
    vulnerability_data,
)
from tests.vulns.roles import make_accounts, signed_in
from vulns.models import ImageInventory, VulnDecision

urlpatterns = [  # vulns first: see tests/vulns/test_pages.py
    path("", include("vulns.urls")),
    *[p for p in import_module("posture.urls").urlpatterns if p is not None],
]
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

PAY_ONLY, WEB_ONLY, BOTH = "CVE-2024-1001", "CVE-2024-2002", "CVE-2024-3003"


@pytest.fixture
def accounts() -> dict[str, Any]:
    return make_accounts()


@pytest.fixture
def fleet() -> dict[str, Any]:
    """pay-1 (team pay) runs the api image: PAY_ONLY and BOTH; web-1 (team web) runs the
    front image: WEB_ONLY and BOTH."""
    vulnerability_data()
    pay = HostFactory(name="pay-1", labels={"team": "pay", "env": "prod"})
    web = HostFactory(name="web-1", labels={"team": "web", "env": "dev"})
    api = InventoryFactory(image_name="registry.example/pay/api:1.4")
    front = InventoryFactory(image_name="registry.example/web/front:2.0")
    VulnFactory(inventory=api, vuln=PAY_ONLY, kev=True)
    VulnFactory(inventory=api, vuln=BOTH, package_name="zlib")
    VulnFactory(inventory=front, vuln=WEB_ONLY, package_name="busybox")
    VulnFactory(inventory=front, vuln=BOTH, package_name="zlib")
    return {
        "pay": pay,
        "web": web,
        "api": api,
        "front": front,
        "api_image": place(pay, api, running=1),
        "front_image": place(web, front, running=1),
    }


def body(client: Any, url: str, params: dict[str, Any] | None = None) -> str:
    response = client.get(url, params or {})
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


@pytest.mark.parametrize(
    ("role", "seen"),
    [
        ("admin", {PAY_ONLY, WEB_ONLY, BOTH}),
        ("security", {PAY_ONLY, WEB_ONLY, BOTH}),
        ("operator", {PAY_ONLY, BOTH}),
        ("viewer", {PAY_ONLY, WEB_ONLY, BOTH}),
        ("viewer_web", {WEB_ONLY, BOTH}),
    ],
)
def test_fleet_page_lists_the_scope_only(
    accounts: dict[str, Any], fleet: dict[str, Any], role: str, seen: set[str]
) -> None:
    html = body(signed_in(accounts[role]), reverse("vulnerabilities"))
    shown = {v for v in (PAY_ONLY, WEB_ONLY, BOTH) if f"/vulnerabilities/{v}/" in html}
    assert shown == seen


def test_a_vulnerability_lists_the_hosts_in_scope_only(
    accounts: dict[str, Any], fleet: dict[str, Any]
) -> None:
    url = reverse("vulnerability", args=[BOTH])
    everything = body(signed_in(accounts["viewer"]), url)
    assert "pay-1" in everything and "web-1" in everything
    pay_only = body(signed_in(accounts["operator"]), url)
    assert "pay-1" in pay_only and "web-1" not in pay_only and "front" not in pay_only
    web_viewer = signed_in(accounts["viewer_web"])
    assert "pay-1" not in body(web_viewer, url)
    # A vulnerability only the other team runs does not exist for this account.
    assert web_viewer.get(reverse("vulnerability", args=[PAY_ONLY])).status_code == 404
    assert (
        signed_in(accounts["operator"]).get(reverse("vulnerability", args=[WEB_ONLY])).status_code
        == 404
    )


def test_inventory_pages_of_another_team_are_404(
    accounts: dict[str, Any], fleet: dict[str, Any]
) -> None:
    operator = signed_in(accounts["operator"])
    api, front = fleet["api"].key, fleet["front"].key
    assert operator.get(reverse("image-inventory", args=[front])).status_code == 404
    page = body(operator, reverse("image-inventory", args=[api]))
    assert "pay-1" in page and "web-1" not in page
    # An inventory no current image carries: only the whole fleet's accounts see it.
    gone = InventoryFactory(image_name="registry.example/old:1")
    assert operator.get(reverse("image-inventory", args=[gone.key])).status_code == 404
    assert (
        signed_in(accounts["viewer"]).get(reverse("image-inventory", args=[gone.key])).status_code
        == 200
    )
    # The findings image page's panel: the other team's image has no inventory for it.
    panel = reverse("image-inventory-panel")
    ids = {"image": [fleet["api_image"].image_id, fleet["front_image"].image_id]}
    html = body(operator, panel, ids)
    assert api in html and front not in html
    html = body(signed_in(accounts["viewer"]), panel, ids)
    assert api in html and front in html


def test_exports_need_export_and_hold_the_scope_only(
    accounts: dict[str, Any], fleet: dict[str, Any]
) -> None:
    for role in ("operator", "viewer", "viewer_web"):
        client = signed_in(accounts[role])
        for name in ("vulnerabilities-csv", "vex-openvex"):
            assert client.get(reverse(name)).status_code == 403, (role, name)
        own = fleet["front" if role == "viewer_web" else "api"].key
        assert client.get(reverse("image-inventory-cyclonedx", args=[own])).status_code == 403
        assert "SBOM (CycloneDX)" not in body(client, reverse("image-inventory", args=[own]))
        assert "CSV" not in body(client, reverse("vulnerabilities"))
    assert not AuditEvent.objects.filter(action="export.downloaded").exists()

    web_security = signed_in(accounts["security_web"])
    response = web_security.get(reverse("vulnerabilities-csv"), {"severity": "low"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {r["vulnerability"] for r in rows} == {WEB_ONLY, BOTH}
    assert {r["hosts"] for r in rows} == {"web-1"}
    data = json.loads(web_security.get(reverse("vulnerabilities-json")).content)
    assert {v["id"] for v in data["vulnerabilities"]} == {WEB_ONLY, BOTH}
    sarif = web_security.get(reverse("vulnerabilities-sarif")).content.decode()
    assert "pay-1" not in sarif and "web-1" in sarif
    assert (
        web_security.get(reverse("image-inventory-cyclonedx", args=[fleet["api"].key])).status_code
        == 404
    )
    assert (
        web_security.get(
            reverse("image-inventory-cyclonedx", args=[fleet["front"].key])
        ).status_code
        == 200
    )
    everything = json.loads(
        signed_in(accounts["security"]).get(reverse("vulnerabilities-json")).content
    )
    assert {v["id"] for v in everything["vulnerabilities"]} == {PAY_ONLY, WEB_ONLY, BOTH}

    events = AuditEvent.objects.filter(action="export.downloaded").order_by("pk")
    assert [(e.actor_name, e.details["what"]) for e in events] == [
        ("sue", "vulnerabilities.csv"),
        ("sue", "vulnerabilities.json"),
        ("sue", "vulnerabilities.sarif"),
        ("sue", "sbom.cdx.json"),
        ("sam", "vulnerabilities.json"),
    ]
    assert events[0].details["filters"]["severity"] == "low"


def test_vex_holds_the_decisions_that_concern_the_scope(
    accounts: dict[str, Any], fleet: dict[str, Any]
) -> None:
    def decide(scope: str, value: str, reason: str) -> None:
        DecisionFactory(vuln=BOTH, scope=scope, scope_value=value, reason=reason)

    decide("fleet", "", "fleet-wide")
    decide("repository", "registry.example/pay/api", "a repository")
    decide("label", "team=pay", "pay's label")
    decide("label", "team=web", "web's label")
    decide("label", "env=prod", "prod only")  # pay-1 is prod, web-1 dev

    def reasons(role: str, name: str) -> set[str]:
        text = signed_in(accounts[role]).get(reverse(name)).content.decode()
        return {
            r
            for r in ("fleet-wide", "a repository", "pay's label", "web's label", "prod only")
            if r in text
        }

    every = {"fleet-wide", "a repository", "pay's label", "web's label", "prod only"}
    assert reasons("security", "vex-openvex") == every
    assert reasons("admin", "vex-cyclonedx") == every
    assert reasons("security_web", "vex-openvex") == {"fleet-wide", "a repository", "web's label"}
    assert reasons("security_web", "vex-cyclonedx") == {"fleet-wide", "a repository", "web's label"}
    whats = AuditEvent.objects.filter(action="export.downloaded").values_list(
        "details__what", flat=True
    )
    assert sorted(whats) == sorted(["vex.openvex.json", "vex.cdx.json"] * 2)


@pytest.mark.parametrize("role", ["operator", "viewer", "viewer_web"])
def test_triage_needs_the_triage_permission(
    accounts: dict[str, Any], fleet: dict[str, Any], role: str
) -> None:
    client = signed_in(accounts[role])
    url = reverse("vulnerability", args=[BOTH])
    page = body(client, url)
    assert 'id="triage-form"' not in page and "decide-link" not in page
    decision = DecisionFactory(vuln=BOTH)
    assert "Revoke" not in body(client, url)
    assert client.post(url, decision_form()).status_code == 403
    assert client.post(reverse("decision-revoke", args=[BOTH, decision.pk])).status_code == 403
    assert VulnDecision.objects.count() == 1
    assert not AuditEvent.objects.filter(action__startswith="triage.").exists()


def test_triage_is_audited(accounts: dict[str, Any], fleet: dict[str, Any]) -> None:
    client = signed_in(accounts["security"])
    url = reverse("vulnerability", args=[BOTH])
    assert 'id="triage-form"' in body(client, url)
    assert client.post(url, decision_form(reason="never reached")).status_code == 302
    decision = VulnDecision.objects.get()
    assert client.post(reverse("decision-revoke", args=[BOTH, decision.pk])).status_code == 302
    decided, revoked = AuditEvent.objects.filter(action__startswith="triage.").order_by("pk")
    assert (decided.action, revoked.action) == ("triage.decided", "triage.revoked")
    assert decided.actor_name == "sam" and decided.target_id == str(decision.pk)
    assert decided.details["reason"] == "never reached"
    assert decided.details["state"] == "not_affected" and decided.details["scope"] == "fleet"


def test_a_team_scoped_triager_decides_for_its_team_only(
    accounts: dict[str, Any], fleet: dict[str, Any]
) -> None:
    client = signed_in(accounts["security_web"])
    url = reverse("vulnerability", args=[BOTH])
    refused = client.post(url, decision_form())  # the whole fleet: other teams' hosts too
    assert refused.status_code == 200 and "your team" in refused.content.decode()
    assert client.post(url, decision_form(scope="label", scope_value="team=pay")).status_code == 200
    assert not VulnDecision.objects.exists()
    assert client.post(url, decision_form(scope="label", scope_value="team=web")).status_code == 302
    assert VulnDecision.objects.get().scope_value == "team=web"
    # A vulnerability none of its hosts runs: nothing to decide on.
    assert (
        client.post(
            reverse("vulnerability", args=[PAY_ONLY]),
            decision_form(scope="label", scope_value="team=web"),
        ).status_code
        == 404
    )
    # Decisions beyond its team: another team's is absent, a fleet-wide one is not its own.
    other = DecisionFactory(vuln=BOTH, scope="label", scope_value="team=pay")
    fleet_wide = DecisionFactory(vuln=BOTH)
    assert client.post(reverse("decision-revoke", args=[BOTH, other.pk])).status_code == 404
    assert client.post(reverse("decision-revoke", args=[BOTH, fleet_wide.pk])).status_code == 403
    assert VulnDecision.objects.filter(revoked_at__isnull=False).count() == 0


def test_queries_keep_to_the_scope_at_any_fleet_size(
    accounts: dict[str, Any], fleet: dict[str, Any]
) -> None:
    """The scoped join reads the same way as the fleet's: no query per host."""
    client = signed_in(accounts["operator"])
    with CaptureQueriesContext(connection) as small:
        body(client, reverse("vulnerabilities"))
    for n in range(10):
        host = HostFactory(name=f"pay-{n + 2}", labels={"team": "pay"})
        place(host, fleet["api"])
        place(HostFactory(name=f"web-{n + 2}", labels={"team": "web"}), fleet["front"])
    with CaptureQueriesContext(connection) as large:
        html = body(client, reverse("vulnerabilities"))
    assert len(large.captured_queries) <= len(small.captured_queries)
    assert Host.objects.count() == 22 and ImageInventory.objects.count() == 2
    assert f"/vulnerabilities/{WEB_ONLY}/" not in html

"""Downloads: an inventory as CycloneDX (valid against the schema, by the library's own
validator), the fleet's vulnerabilities as CSV / JSON / SARIF with the page's filters, and
decisions as OpenVEX 0.2.0 and CycloneDX VEX."""

from __future__ import annotations

import csv
import io
import json
from importlib import import_module
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from django.test import Client
from django.urls import include, path

from hosts.models import Host
from tests.factories import HostFactory, UserFactory
from tests.findings.sarif_check import check_sarif
from tests.vulns.factories import (
    DecisionFactory,
    InventoryFactory,
    PackageFactory,
    VulnFactory,
    place,
    vulnerability_data,
)
from vulndb.records import VulnSeverity
from vulns import exports
from vulns.models import VulnDecision

urlpatterns = [  # vulns first: see tests/vulns/test_pages.py
    path("", include("vulns.urls")),
    *import_module("posture.urls").urlpatterns,
]
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@pytest.fixture
def client(client: Client) -> Client:
    client.force_login(UserFactory(username="maya"))
    return client


def valid_cyclonedx(text: str) -> dict[str, Any]:
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, error
    return json.loads(text)


@pytest.fixture
def fleet() -> dict[str, Host]:
    vulnerability_data()
    pay = HostFactory(name="pay-1", labels={"team": "pay"})
    web = HostFactory(name="web-1", labels={"team": "web"})
    api = InventoryFactory(image_name="registry.example/pay/api:1.4")
    VulnFactory(inventory=api, vuln="CVE-2024-0001", kev=True, epss=0.25)
    VulnFactory(
        inventory=api,
        vuln="CVE-2024-0002",
        package_name='=HYPERLINK("http://evil")',
        severity=VulnSeverity.LOW,
        fixed_version="",
    )
    front = InventoryFactory(image_name="registry.example/web/front:2")
    VulnFactory(inventory=front, vuln="CVE-2024-0003", severity=VulnSeverity.CRITICAL)
    place(pay, api, running=2)
    place(web, api, running=1)
    place(web, front)
    return {"pay": pay, "web": web}


def test_inventory_as_cyclonedx(client: Client) -> None:
    inv = InventoryFactory(image_name="registry.example/pay/api:1.4")
    PackageFactory(inventory=inv, name="openssl", version="3.0.11-1~deb12u2")
    PackageFactory(inventory=inv, name="<script>x</script>", purl="not a purl")
    PackageFactory(
        inventory=inv, name="requests", ecosystem="PyPI", purl="pkg:pypi/requests@2.31.0"
    )
    response = client.get(f"/images/inventory/{inv.key}/cyclonedx.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.cyclonedx+json"
    assert "attachment" in response["Content-Disposition"]
    bom = valid_cyclonedx(response.content.decode())
    assert bom["specVersion"] == "1.6"
    assert bom["metadata"]["component"]["type"] == "container"
    assert bom["metadata"]["component"]["name"] == "registry.example/pay/api:1.4"
    by_name = {c["name"]: c for c in bom["components"]}
    assert by_name["debian"]["type"] == "operating-system" and by_name["debian"]["version"] == "12"
    assert by_name["openssl"]["purl"].startswith("pkg:deb/debian/openssl@3.0.11-1~deb12u2")
    assert by_name["requests"]["purl"] == "pkg:pypi/requests@2.31.0"
    assert "purl" not in by_name["<script>x</script>"]  # malformed: left out, not a failure
    assert client.get("/images/inventory/" + "0" * 64 + "/cyclonedx.json").status_code == 404


def test_an_empty_not_assessed_inventory_is_still_valid() -> None:
    inv = InventoryFactory(status="not_assessed", reason="no package database", os_id="")
    bom = valid_cyclonedx(exports.cyclonedx_sbom(inv))
    assert "components" not in bom or bom["components"] == []


def test_csv_with_filters_and_formula_guard(client: Client, fleet: dict[str, Host]) -> None:
    response = client.get("/vulnerabilities.csv", {"label": "team=pay"})
    assert response.status_code == 200 and response["X-Content-Type-Options"] == "nosniff"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == list(exports.CSV_COLUMNS)
    assert [r[0] for r in rows[1:]] == ["CVE-2024-0001", "CVE-2024-0002"]
    assert rows[1][11] == "pay-1" and rows[1][12] == "2"
    assert rows[2][6].startswith("'=")  # a package name a spreadsheet would run
    everything = client.get("/vulnerabilities.csv")
    lines = b"".join(everything.streaming_content).decode().splitlines()
    assert len(lines) == 4 and "pay-1 web-1" in lines[1]


def test_json_export(client: Client, fleet: dict[str, Host]) -> None:
    response = client.get("/vulnerabilities.json", {"kev": "1"})
    data = json.loads(response.content)
    assert data["truncated"] is False
    [row] = data["vulnerabilities"]
    assert row["id"] == "CVE-2024-0001" and row["kev"] is True and row["epss"] == 0.25
    assert row["hosts"] == ["pay-1", "web-1"] and row["running_containers"] == 3
    assert row["fixed_version"] == "3.0.11-1~deb12u2"
    assert b"<" not in response.content


def test_triaged_rows_leave_the_exports_unless_asked(
    client: Client, fleet: dict[str, Host]
) -> None:
    DecisionFactory(vuln="CVE-2024-0001", scope="label", scope_value="team=pay")
    data = json.loads(client.get("/vulnerabilities.json", {"kev": "1"}).content)
    assert data["vulnerabilities"][0]["hosts"] == ["web-1"]
    DecisionFactory(vuln="CVE-2024-0001")
    assert (
        json.loads(client.get("/vulnerabilities.json", {"kev": "1"}).content)["vulnerabilities"]
        == []
    )
    shown = json.loads(client.get("/vulnerabilities.json", {"kev": "1", "triaged": "1"}).content)
    assert shown["vulnerabilities"][0]["hosts"] == ["pay-1", "web-1"]


def test_sarif_export(client: Client, fleet: dict[str, Host]) -> None:
    response = client.get("/vulnerabilities.sarif")
    assert response["Content-Type"] == "application/sarif+json"
    log = json.loads(response.content)
    check_sarif(log)
    run = log["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [
        "CVE-2024-0001",
        "CVE-2024-0003",
        "CVE-2024-0002",
    ]
    first = run["results"][0]
    assert first["level"] == "error" and first["ruleIndex"] == 0
    names = [loc["name"] for loc in first["locations"][0]["logicalLocations"]]
    assert names == ["registry.example/pay/api:1.4", "pay-1", "web-1"]
    again = json.loads(client.get("/vulnerabilities.sarif").content)
    assert again["runs"][0]["results"][0]["partialFingerprints"] == first["partialFingerprints"]


def test_openvex(client: Client) -> None:
    DecisionFactory(vuln="CVE-2024-0001")
    DecisionFactory(
        vuln="CVE-2024-0002",
        state=VulnDecision.State.ACCEPTED,
        justification="",
        scope="repository",
        scope_value="registry.example/pay/api",
        reason="replaced next sprint",
    )
    DecisionFactory(vuln="CVE-2024-0003", state="false_positive", justification="")
    revoked = DecisionFactory(vuln="CVE-2024-0004")
    VulnDecision.objects.filter(pk=revoked.pk).update(revoked_at=revoked.created_at)
    response = client.get("/vulnerabilities/vex.openvex.json")
    doc = json.loads(response.content)
    assert doc["@context"] == "https://openvex.dev/ns/v0.2.0"
    assert doc["@id"].startswith("http") and doc["author"] == "maya" and doc["version"] == 1
    assert doc["timestamp"].endswith("Z")
    by_vuln = {s["vulnerability"]["name"]: s for s in doc["statements"]}
    assert set(by_vuln) == {"CVE-2024-0001", "CVE-2024-0002", "CVE-2024-0003"}
    assert by_vuln["CVE-2024-0001"]["status"] == "not_affected"
    assert by_vuln["CVE-2024-0001"]["justification"] == "vulnerable_code_not_in_execute_path"
    assert by_vuln["CVE-2024-0002"]["status"] == "affected"
    assert by_vuln["CVE-2024-0002"]["action_statement"] == "replaced next sprint"
    assert by_vuln["CVE-2024-0002"]["products"] == [
        {"@id": "pkg:oci/api?repository_url=registry.example/pay/api"}
    ]
    fp = by_vuln["CVE-2024-0003"]
    assert fp["status"] == "not_affected" and fp["impact_statement"]  # justified in words
    again = json.loads(client.get("/vulnerabilities/vex.openvex.json").content)
    assert again["@id"] == doc["@id"]  # the same decisions, the same document


def test_cyclonedx_vex(client: Client) -> None:
    DecisionFactory(vuln="CVE-2024-0001", scope="package", scope_value="openssl")
    DecisionFactory(
        vuln="CVE-2024-0002",
        state="accepted",
        justification="",
        scope="label",
        scope_value="team=pay",
    )
    DecisionFactory(vuln="GHSA-aaaa-bbbb-cccc", state="false_positive", justification="")
    response = client.get("/vulnerabilities/vex.cdx.json")
    assert response.status_code == 200
    bom = valid_cyclonedx(response.content.decode())
    by_id = {v["id"]: v for v in bom["vulnerabilities"]}
    assert by_id["CVE-2024-0001"]["analysis"] == {
        "state": "not_affected",
        "justification": "code_not_reachable",
        "detail": "the vulnerable function is never called",
    }
    assert by_id["CVE-2024-0001"]["affects"] == [{"ref": "pkg:generic/openssl"}]
    assert by_id["CVE-2024-0002"]["analysis"]["state"] == "exploitable"
    assert by_id["CVE-2024-0002"]["analysis"]["response"] == ["will_not_fix"]
    assert by_id["GHSA-aaaa-bbbb-cccc"]["analysis"]["state"] == "false_positive"


def test_empty_vex_documents_are_valid(client: Client) -> None:
    valid_cyclonedx(client.get("/vulnerabilities/vex.cdx.json").content.decode())
    assert json.loads(client.get("/vulnerabilities/vex.openvex.json").content)["statements"] == []


def test_pages_link_the_exports(client: Client, fleet: dict[str, Host]) -> None:
    html = client.get("/vulnerabilities/", {"kev": "1"}).content.decode()
    for href in (
        "/vulnerabilities.csv?kev=1",
        "/vulnerabilities.json?kev=1",
        "/vulnerabilities.sarif?kev=1",
        "/vulnerabilities/vex.openvex.json",
        "/vulnerabilities/vex.cdx.json",
    ):
        assert f'href="{href}"' in html

"""Image vulnerabilities through the API: the fleet's grouped by vulnerability, a host's
images and open vulnerabilities (what the CI gates count), an inventory's matches; each
within the token's scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from findings.models import Container, Image
from tests.api.conftest import bearer
from tests.factories import HostFactory, UserFactory
from vulndb.records import VulnSeverity
from vulns.models import ImageInventory, ImageVulnerability

pytestmark = pytest.mark.django_db

PAY_KEY, WEB_KEY, UNREAD_KEY = "a" * 64, "b" * 64, "c" * 64


def image(host: Any, n: int, key: str, name: str) -> Image:
    image_id = f"sha256:{n:064x}"
    Container.objects.create(
        host=host, name=f"{name}-1", digest="d", container_id=f"{n:064x}", image_id=image_id,
        state="running",
    )  # fmt: skip
    return Image.objects.create(
        host=host, name=name, tags=[name], image_id=image_id, digest="d", layers_key=key
    )


def vuln(inventory: ImageInventory, vuln_id: str, severity: int, **extra: Any) -> None:
    ImageVulnerability.objects.create(
        inventory=inventory,
        advisory_id=vuln_id,
        vuln=vuln_id,
        package_name=extra.pop("package", "openssl"),
        installed_version="1.0",
        severity=severity,
        **extra,
    )


@pytest.fixture
def fleet() -> dict[str, Any]:
    pay = HostFactory(name="pay-1", labels={"team": "pay"})
    web = HostFactory(name="web-1", labels={"team": "web"})
    image(pay, 1, PAY_KEY, "pay/api:1")
    image(pay, 2, UNREAD_KEY, "pay/batch:1")  # its inventory was never read
    image(web, 3, WEB_KEY, "web/app:1")
    # Uploaded results (source trivy): assessed without Posture's own vulnerability data.
    pay_inv = ImageInventory.objects.create(key=PAY_KEY, status="assessed", source="trivy")
    web_inv = ImageInventory.objects.create(key=WEB_KEY, status="assessed", source="trivy")
    vuln(pay_inv, "CVE-2024-0001", VulnSeverity.CRITICAL, kev=True, fixed_version="1.1")
    vuln(pay_inv, "CVE-2024-0002", VulnSeverity.HIGH)
    vuln(pay_inv, "CVE-2024-0003", VulnSeverity.LOW, package="zlib")
    vuln(web_inv, "CVE-2024-0004", VulnSeverity.MEDIUM)
    return {"pay": pay, "web": web, "admin": UserFactory()}


def walk(client: Client, raw: str, url: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    following: str | None = url
    while following:
        response = client.get(following, **bearer(raw))
        assert response.status_code == 200, response.content
        rows += response.json()["results"]
        following = response.json()["next"]
    return rows


def test_fleet_vulnerabilities_are_scoped_and_most_urgent_first(
    api: Client, token_for: Callable[..., str], fleet: dict[str, Any]
) -> None:
    everything = walk(api, token_for(fleet["admin"]), "/api/v1/vulnerabilities/?limit=1")
    assert [v["id"] for v in everything][0] == "CVE-2024-0001"  # known exploited first
    assert {v["id"] for v in everything} == {f"CVE-2024-000{n}" for n in (1, 2, 3, 4)}
    assert len(everything) == 4  # each once across the pages
    first = everything[0]
    assert first["kev"] and first["fixable"] and first["severity"] == "critical"
    assert (first["hosts"], first["images"], first["containers"]) == (1, 1, 1)
    operator = token_for(fleet["admin"], "operator", ("pay",))
    pay_only = walk(api, operator, "/api/v1/vulnerabilities/")
    assert "CVE-2024-0004" not in {v["id"] for v in pay_only}
    high = walk(api, operator, "/api/v1/vulnerabilities/?severity=high")
    assert {v["id"] for v in high} == {"CVE-2024-0001", "CVE-2024-0002"}


def test_a_hosts_open_vulnerabilities_filter_like_the_gates(
    api: Client, token_for: Callable[..., str], fleet: dict[str, Any]
) -> None:
    raw = token_for(fleet["admin"], "viewer", ("pay",))
    url = "/api/v1/hosts/pay-1/vulnerabilities/"
    rows = walk(api, raw, url)
    assert [v["id"] for v in rows] == ["CVE-2024-0001", "CVE-2024-0002", "CVE-2024-0003"]
    assert rows[0]["image"] == f"sha256:{1:064x}" and rows[0]["containers"] == ["pay/api:1-1"]
    assert rows[0]["source"] == "posture" and rows[0]["fixed_version"] == "1.1"
    high = walk(api, raw, url + "?severity=high")
    assert [v["id"] for v in high] == ["CVE-2024-0001", "CVE-2024-0002"]
    assert [v["id"] for v in walk(api, raw, url + "?kev=1")] == ["CVE-2024-0001"]
    assert api.get("/api/v1/hosts/web-1/vulnerabilities/", **bearer(raw)).status_code == 404


def test_a_hosts_images_say_which_were_assessed(
    api: Client, token_for: Callable[..., str], fleet: dict[str, Any]
) -> None:
    raw = token_for(fleet["admin"], "operator", ("pay",))
    images = {i["references"][0]: i for i in walk(api, raw, "/api/v1/hosts/pay-1/images/")}
    assert images["pay/api:1"]["assessed"] is True
    assert images["pay/api:1"]["inventory"] == PAY_KEY
    unread = images["pay/batch:1"]
    assert unread["assessed"] is False and "not been read" in unread["not_assessed_reason"]
    assert api.get("/api/v1/hosts/web-1/images/", **bearer(raw)).status_code == 404


def test_an_inventorys_vulnerabilities_need_a_host_in_scope(
    api: Client, token_for: Callable[..., str], fleet: dict[str, Any]
) -> None:
    url = f"/api/v1/inventories/{PAY_KEY}/vulnerabilities/"
    rows = walk(api, token_for(fleet["admin"], "viewer", ("pay",)), url)
    assert {(v["id"], v["severity"], v["package"]) for v in rows} == {
        ("CVE-2024-0001", "critical", "openssl"),
        ("CVE-2024-0002", "high", "openssl"),
        ("CVE-2024-0003", "low", "zlib"),
    }
    other = token_for(fleet["admin"], "viewer", ("web",))
    assert api.get(url, **bearer(other)).status_code == 404
    unknown = f"/api/v1/inventories/{'f' * 64}/vulnerabilities/"
    assert api.get(unknown, **bearer(other)).status_code == 404

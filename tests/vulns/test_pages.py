"""The vulnerability pages: the fleet grouped by vulnerability (filters, paging, urgency,
query counts), one vulnerability and where it runs, an inventory, the host page's panel,
the findings image page's panel; escaping and "not assessed" wording."""

from __future__ import annotations

import re
from importlib import import_module

import pytest
from django.test import Client
from django.urls import include, path, reverse

from hosts.models import Host
from tests.factories import HostFactory, UserFactory
from tests.vulns.factories import (
    AdvisoryFactory,
    InventoryFactory,
    PackageFactory,
    VulnFactory,
    epss,
    kev,
    place,
    vulnerability_data,
)
from vulndb.records import VulnSeverity

# posture/urls.py includes findings.urls before vulns.urls, and findings' images/<path:ref>/
# would take /images/inventory/<key>/: until the project's URLconf lists vulns first, these
# tests run with one that does (the same includes, in that order).
urlpatterns = [
    path("", include("vulns.urls")),
    *[p for p in import_module("posture.urls").urlpatterns if p is not None],
]
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]
URL = "/vulnerabilities/"


@pytest.fixture
def client(client: Client) -> Client:
    client.force_login(UserFactory(username="maya"))
    return client


def html_of(client: Client, url: str, params: dict | None = None, **headers: str) -> str:
    response = client.get(url, params or {}, headers=headers)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def listed(html: str) -> list[str]:
    """The vulnerability ids of the fleet table, in order."""
    return re.findall(r'class="vuln-link mono" href="/vulnerabilities/([^/]+)/"', html)


@pytest.fixture
def fleet() -> dict[str, Host]:
    """Two teams' hosts; pay runs an image with a KEV and a fixable critical, web one with
    an unfixed medium; an image no host runs any more carries a critical."""
    vulnerability_data()
    pay = HostFactory(name="pay-1", labels={"team": "pay", "env": "prod"})
    web = HostFactory(name="web-1", labels={"team": "web", "env": "dev"})
    api = InventoryFactory(image_name="registry.example/pay/api:1.4")
    front = InventoryFactory(image_name="registry.example/web/front:2.0", ecosystem="Alpine:v3.20")
    gone = InventoryFactory(image_name="registry.example/old:1")
    VulnFactory(inventory=api, vuln="CVE-2024-0001", kev=True, severity=VulnSeverity.MEDIUM)
    VulnFactory(
        inventory=api, vuln="CVE-2024-0002", severity=VulnSeverity.CRITICAL, package_name="zlib"
    )
    VulnFactory(
        inventory=api, vuln="CVE-2024-0003", severity=VulnSeverity.CRITICAL, fixed_version=""
    )
    VulnFactory(
        inventory=front,
        vuln="CVE-2024-0004",
        severity=VulnSeverity.MEDIUM,
        fixed_version="",
        ecosystem="Alpine:v3.20",
        package_name="busybox",
        epss=0.5,
    )
    VulnFactory(inventory=front, vuln="CVE-2024-0001", kev=True, ecosystem="Alpine:v3.20")
    VulnFactory(inventory=gone, vuln="CVE-2024-0099", severity=VulnSeverity.CRITICAL)
    place(pay, api, running=2, stopped=1)
    place(web, front, running=1)
    place(pay, front, running=0)
    return {"pay": pay, "web": web}


def test_login_is_required(db: None) -> None:
    response = Client().get(URL)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_url_names() -> None:
    assert reverse("vulnerabilities") == URL
    assert reverse("vulnerability", args=["CVE-2024-1"]) == "/vulnerabilities/CVE-2024-1/"


def test_most_urgent_first_with_fleet_counts(client: Client, fleet: dict[str, Host]) -> None:
    html = html_of(client, URL)
    # KEV, then fixable critical, then EPSS, then severity; an image gone from the fleet
    # does not count.
    assert listed(html) == ["CVE-2024-0001", "CVE-2024-0002", "CVE-2024-0004", "CVE-2024-0003"]
    row = html[html.index('id="vuln-cve-2024-0001"') :]
    row = row[: row.index("</tr>")]
    cells = re.findall(r'<td class="num">(\d+)</td>', row)
    assert cells == ["3", "2", "3"]  # images, hosts, running containers
    assert "KEV" in row
    unfixed = html[html.index('id="vuln-cve-2024-0003"') :]
    assert "no fix yet" in unfixed[: unfixed.index("</tr>")]
    assert "CVE-2024-0099" not in html


ALL_ON_PAY = ["CVE-2024-0001", "CVE-2024-0002", "CVE-2024-0004", "CVE-2024-0003"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"kev": "1"}, ["CVE-2024-0001"]),
        ({"fix": "1"}, ["CVE-2024-0001", "CVE-2024-0002"]),
        ({"severity": "critical"}, ["CVE-2024-0002", "CVE-2024-0003"]),
        ({"label": "team=web"}, ["CVE-2024-0001", "CVE-2024-0004"]),
        ({"label": "env=prod"}, ALL_ON_PAY),
        ({"ecosystem": "alpine:v3.20"}, ["CVE-2024-0001", "CVE-2024-0004"]),
        ({"package": "zlib"}, ["CVE-2024-0002"]),
        ({"image": "registry.example/web/front"}, ["CVE-2024-0001", "CVE-2024-0004"]),
        ({"q": "busy"}, ["CVE-2024-0004"]),
        ({"q": "0003"}, ["CVE-2024-0003"]),
        ({"host": "web-1"}, ["CVE-2024-0001", "CVE-2024-0004"]),
        ({"severity": "bogus", "kev": "yes"}, ALL_ON_PAY),
    ],
)  # fmt: skip
def test_filters(
    client: Client, fleet: dict[str, Host], params: dict[str, str], expected: list[str]
) -> None:
    assert listed(html_of(client, URL, params)) == expected


def test_search_finds_an_alias(client: Client, fleet: dict[str, Host]) -> None:
    AdvisoryFactory(id="CVE-2024-0002", aliases=["GHSA-abcd-efgh-ijkl"])
    html = html_of(client, URL, {"q": "GHSA-abcd"})
    assert listed(html) == ["CVE-2024-0002"]
    assert "GHSA-abcd-efgh-ijkl" in html  # shown beside the id


def test_htmx_gets_the_table_only(client: Client, fleet: dict[str, Host]) -> None:
    html = html_of(client, URL, {"kev": "1"}, HX_Request="true")
    assert html.lstrip().startswith('<section id="vuln-table"')
    assert listed(html) == ["CVE-2024-0001"]
    assert "<form" not in html


def test_paging(client: Client, settings: object) -> None:
    vulnerability_data()
    host = HostFactory(name="big")
    inv = InventoryFactory()
    for n in range(60):
        VulnFactory(inventory=inv, vuln=f"CVE-2023-{n:04d}", epss=n / 100)
    place(host, inv)
    first = html_of(client, URL)
    assert len(listed(first)) == 50 and listed(first)[0] == "CVE-2023-0059"
    assert "page 1 of 2" in first
    second = html_of(client, URL, {"page": "2"})
    assert listed(second)[-1] == "CVE-2023-0000" and len(listed(second)) == 10


def _grow(hosts: int, start: int) -> None:
    inventories = [InventoryFactory() for _ in range(3)]
    for n, inv in enumerate(inventories):
        VulnFactory(inventory=inv, vuln=f"CVE-2022-{start + n:04d}", kev=n == 0)
        VulnFactory(inventory=inv, vuln="CVE-2022-9999", package_name="zlib")
    for h in range(hosts):
        host = HostFactory(name=f"grow-{start}-{h}", labels={"team": "pay"})
        for inv in inventories:
            place(host, inv, running=2)


@pytest.mark.parametrize("params", [{}, {"label": "team=pay", "q": "CVE", "triaged": "1"}])
def test_query_count_does_not_grow_with_the_fleet(
    client: Client, django_assert_max_num_queries: object, params: dict[str, str]
) -> None:
    vulnerability_data()
    _grow(3, 0)
    # 17: one more than before roles, the account's role and teams (read on every request,
    # so that a role taken away applies at the next click); +2 the header's fleet counters,
    # on every page since issue 17 (cached a few seconds outside tests).
    with django_assert_max_num_queries(19) as small:  # type: ignore[operator]
        html_of(client, URL, params)
    _grow(30, 100)
    with django_assert_max_num_queries(len(small.captured_queries)):  # type: ignore[operator]
        html = html_of(client, URL, params)
    assert "CVE-2022-9999" in html


def test_no_data_says_not_assessed(client: Client) -> None:
    host = HostFactory(name="lone")
    place(host, InventoryFactory())
    html = html_of(client, URL)
    assert "Not assessed: no vulnerability data" in html
    assert "No known vulnerability" not in html


def test_stale_data_warns(client: Client) -> None:
    vulnerability_data(age_days=40)
    assert "days old" in html_of(client, URL)


def test_hostile_names_are_escaped(client: Client) -> None:
    vulnerability_data()
    host = HostFactory(name="evil")
    inv = InventoryFactory(image_name="<script>alert(1)</script>")
    VulnFactory(inventory=inv, vuln="CVE-2024-7777", package_name="<script>pkg</script>")
    PackageFactory(inventory=inv, name="<script>alert(2)</script>", version="<b>1</b>")
    place(host, inv)
    for url in (URL, "/vulnerabilities/CVE-2024-7777/", f"/images/inventory/{inv.key}/"):
        html = html_of(client, url)
        assert "<script>alert" not in html and "<script>pkg" not in html
        assert "&lt;script&gt;" in html


def test_vulnerability_page_answers_where_it_runs(client: Client, fleet: dict[str, Host]) -> None:
    AdvisoryFactory(
        id="CVE-2024-0001",
        aliases=["DSA-5555-1"],
        summary="Certificate parser overflow",
        references=["https://security.example.org/CVE-2024-0001", "javascript:alert(1)"],
    )
    kev("CVE-2024-0001")
    epss("CVE-2024-0001", 0.42)
    html = html_of(client, "/vulnerabilities/CVE-2024-0001/")
    assert "Certificate parser overflow" in html
    assert "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" in html and "9.8" in html
    assert "DSA-5555-1" in html
    assert "2024-05-01" in html and "2024-05-22" in html  # KEV added, due
    assert "42.00%" in html
    assert '<a href="https://security.example.org/CVE-2024-0001" rel="noopener noreferrer"' in html
    assert "javascript:alert" not in html
    where = html[html.index("Where does it run?") :]
    assert 'href="/hosts/pay-1/"' in where and 'href="/hosts/web-1/"' in where
    assert "api-0" in where and "exited" in where  # containers with their state
    assert "3.0.11-1~deb12u2" in where  # the fix
    assert "3 places not triaged" in where


def test_unknown_vulnerability_is_404(client: Client, fleet: dict[str, Host]) -> None:
    assert client.get("/vulnerabilities/CVE-1999-0000/").status_code == 404
    assert client.get("/vulnerabilities/%3Cx%3E/").status_code == 404


def test_fleet_row_links_to_the_vulnerability(client: Client, fleet: dict[str, Host]) -> None:
    html = html_of(client, URL, {"kev": "1"})
    assert 'href="/vulnerabilities/CVE-2024-0001/"' in html


def test_inventory_page(client: Client, fleet: dict[str, Host]) -> None:
    inv = InventoryFactory(image_name="registry.example/inv:1")
    for n in range(120):
        PackageFactory(inventory=inv, name=f"pkg{n:03d}", source_name="src" if n == 7 else "")
    VulnFactory(inventory=inv, vuln="CVE-2024-5000", package_name="pkg007")
    place(fleet["pay"], inv, running=1)
    url = f"/images/inventory/{inv.key}/"
    html = html_of(client, url)
    assert "Debian GNU/Linux 12 (bookworm)" in html
    assert "CVE-2024-5000" in html and "pay-1" in html
    assert "pkg000" in html and "pkg119" not in html and "page 1 of 2" in html
    assert "pkg:deb/debian/pkg007" in html
    assert 'href="/images/inventory/' + inv.key + '/cyclonedx.json"' in html
    found = html_of(client, url, {"q": "pkg11"}, HX_Request="true")
    assert found.lstrip().startswith('<div id="package-table"')
    assert "pkg119" in found and "pkg000" not in found


def test_inventory_not_assessed_says_why(client: Client) -> None:
    vulnerability_data()
    inv = InventoryFactory(status="not_assessed", reason="RPM database not readable", os_id="")
    html = html_of(client, f"/images/inventory/{inv.key}/")
    assert "Not assessed: RPM database not readable" in html
    assert "No known vulnerability" not in html
    assert client.get("/images/inventory/" + "0" * 64 + "/").status_code == 404


def test_inventory_without_data_is_not_assessed(client: Client) -> None:
    inv = InventoryFactory()
    html = html_of(client, f"/images/inventory/{inv.key}/")
    assert "Not assessed: no vulnerability data" in html
    assert "No known vulnerability" not in html


def test_image_page_panel(client: Client, fleet: dict[str, Host]) -> None:
    from findings.models import Image

    image = Image.objects.filter(host=fleet["web"]).get()
    page = html_of(client, reverse("image-detail", args=[image.image_id]))
    panel_url = reverse("image-inventory-panel")
    assert f'hx-get="{panel_url}?image=' in page
    html = html_of(client, panel_url, {"image": [image.image_id, "junk"]}, HX_Request="true")
    assert "registry.example/web/front:2.0" in html and "Packages and vulnerabilities" in html
    empty = html_of(client, panel_url, {"image": "sha256:" + "1" * 64})
    assert "Not assessed" in empty


def test_host_page_panel(client: Client, fleet: dict[str, Host]) -> None:
    html = html_of(client, reverse("host-detail", args=["pay-1"]))
    panel = html[html.index('id="vulnerabilities"') :]
    panel = panel[: panel.index("</section>")]
    # pay-1: CVE-0001 (kev, fixable), 0002 (critical fixable), 0003 (critical), 0004 (medium)
    assert re.search(r"<strong[^>]*>1</strong> known exploited", panel)
    assert "<strong>2</strong> fixable" in panel
    assert 'href="/vulnerabilities/?host=pay-1"' in panel
    assert ">2</span>" in panel  # two critical


def test_host_page_panel_without_data(client: Client) -> None:
    host = HostFactory(name="nodata")
    place(host, InventoryFactory())
    html = html_of(client, reverse("host-detail", args=["nodata"]))
    panel = html[html.index('id="vulnerabilities"') :]
    assert "Not assessed: no vulnerability data" in panel[: panel.index("</section>")]


def test_nav_links_the_page(client: Client, fleet: dict[str, Host]) -> None:
    assert f'href="{URL}"' in html_of(client, reverse("fleet"))


def test_vulnerability_page_query_count_does_not_grow(
    client: Client, django_assert_max_num_queries: object
) -> None:
    vulnerability_data()
    _grow(2, 0)
    url = "/vulnerabilities/CVE-2022-9999/"
    with django_assert_max_num_queries(20) as small:  # type: ignore[operator]
        html_of(client, url)
    _grow(20, 100)
    with django_assert_max_num_queries(len(small.captured_queries)):  # type: ignore[operator]
        html = html_of(client, url)
    assert "grow-100-19" in html


def test_a_place_offers_a_decision_for_its_repository(
    client: Client, fleet: dict[str, Host]
) -> None:
    html = html_of(client, "/vulnerabilities/CVE-2024-0002/")
    link = "?scope=repository&amp;scope_value=registry.example/pay/api#triage-form"
    assert f'href="{link}"' in html
    prefilled = html_of(
        client,
        "/vulnerabilities/CVE-2024-0002/",
        {"scope": "repository", "scope_value": "registry.example/pay/api"},
    )
    assert 'value="registry.example/pay/api"' in prefilled


def test_showing_triaged_survives_the_next_filter(client: Client, fleet: dict[str, Host]) -> None:
    html = html_of(client, URL, {"triaged": "1"}, HX_Request="true")
    assert '<input type="hidden" name="triaged" value="1" form="vuln-filters">' in html
    assert "hide triaged" in html
    assert 'id="vuln-filters"' in html_of(client, URL)

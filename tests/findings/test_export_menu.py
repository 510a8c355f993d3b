"""The Export menu of the fleet, host, rule, container and image pages: links to the CSV, JSON
and SARIF downloads that carry the page's subject and current filters, and downloads that
honour them; accepted findings stay in the downloads, marked (SARIF: suppressed)."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from findings.models import Finding
from tests.factories import RiskExceptionFactory
from tests.findings import scoped_fleet
from tests.findings.sarif_check import check_sarif
from tests.findings.scoped_fleet import NGINX_ID, RULE

pytestmark = pytest.mark.django_db


def export_links(page: str) -> dict[str, str]:
    """format -> the query string of the page's Export link."""
    found = re.findall(r'href="/findings\.(csv|json|sarif)(\?[^"]*)?"', page)
    return {fmt: html.unescape(query) for fmt, query in found}


def download(client: Client, fmt: str, query: str) -> Any:
    response = client.get(f"/findings.{fmt}{query}")
    assert response.status_code == 200
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    text = raw.decode()
    return list(csv.DictReader(io.StringIO(text))) if fmt == "csv" else json.loads(text)


def hosts_of(data: dict[str, Any]) -> set[str]:
    return {f["host"] for f in data["findings"]}


def test_each_page_exports_what_it_shows() -> None:
    fleet = scoped_fleet.build()
    client = fleet.client("security")
    pay1 = fleet.containers["pay-1"]
    pages = {
        reverse("host-detail", args=["pay-1"]): {"pay-1"},
        reverse("container-detail", args=["pay-1", pay1]): {"pay-1"},
        reverse("containers") + "?name=shop&label=team%3Dweb": {"web-1"},
        reverse("image-detail", args=["nginx:1.27"]): {"pay-1", "pay-2", "web-1"},
        reverse("rule-detail", args=[RULE]) + "?q=pay-2": {"pay-2"},
        reverse("fleet") + "?label=team%3Dpay": {"pay-1", "pay-2"},
    }
    for url, hosts in pages.items():
        links = export_links(client.get(url).content.decode())
        assert set(links) == {"csv", "json", "sarif"}, url
        assert hosts_of(download(client, "json", links["json"])) == hosts, url
        assert {r["host"] for r in download(client, "csv", links["csv"])} == hosts, url


def test_an_htmx_filter_swap_carries_the_new_filters() -> None:
    fleet = scoped_fleet.build()
    client = fleet.client("security")
    fragment = client.get(
        reverse("rule-detail", args=[RULE]), {"label": "team=web"}, headers={"hx-request": "true"}
    ).content.decode()
    links = export_links(fragment)
    assert links["sarif"] == "?label=team%3Dweb&rule=CTR-PRIVILEGED"
    assert hosts_of(download(client, "json", links["json"])) == {"web-1"}


def test_only_accounts_that_may_export_see_the_menu() -> None:
    fleet = scoped_fleet.build()
    url = reverse("host-detail", args=["pay-1"])
    assert export_links(fleet.client("security").get(url).content.decode())
    assert not export_links(fleet.client("viewer").get(url).content.decode())
    assert not export_links(fleet.client("operator-pay").get(url).content.decode())


def test_the_menu_is_a_named_keyboard_disclosure() -> None:
    fleet = scoped_fleet.build()
    page = fleet.client("security").get(reverse("images")).content.decode()
    menu = page[page.index('<details class="export-menu">') :]
    assert re.match(r'<details class="export-menu">\s*<summary class="button">Export', menu)
    assert '<span class="offscreen"> these findings</span>' in menu


@pytest.mark.parametrize(
    "query, hosts",
    [
        ("?host=pay-2", {"pay-2"}),
        (f"?host=pay-1&container={'0' * 64}", {"pay-1"}),
        ("?name=shop", {"pay-1", "pay-2", "web-1"}),
        ("?image=nginx:1.27", {"pay-1", "pay-2", "web-1"}),
        (f"?image={NGINX_ID}&kind=image", set()),
        ("?kind=image", {"lone"}),
        ("?search=web", {"web-1"}),
        ("?host=nowhere", set()),
        ("?container=not-an-id", {"pay-1", "pay-2", "web-1", "lone"}),  # ignored
    ],
)
def test_the_downloads_take_the_subject_filters(query: str, hosts: set[str]) -> None:
    fleet = scoped_fleet.build()
    assert hosts_of(download(fleet.client("admin"), "json", query)) == hosts


def test_the_subject_filters_never_widen_the_scope() -> None:
    fleet = scoped_fleet.build()
    client = fleet.client("security-web")
    assert hosts_of(download(client, "json", "?host=pay-1")) == set()
    assert hosts_of(download(client, "json", "?image=nginx:1.27")) == {"web-1"}


def accept_pay_2(fleet: scoped_fleet.Fleet) -> None:
    exc = RiskExceptionFactory(
        host=fleet.hosts["pay-2"], container_pattern="shop", reason="replaced in Q3", owner="maya"
    )
    Finding.objects.filter(host=fleet.hosts["pay-2"]).update(accepted=True, exception=exc)


def test_accepted_findings_are_marked_in_every_format() -> None:
    fleet = scoped_fleet.build()
    accept_pay_2(fleet)
    client = fleet.client("admin")

    data = download(client, "json", "?rule=CTR-PRIVILEGED")
    by_host = {f["host"]: f for f in data["findings"]}
    assert by_host["pay-2"]["accepted"] is True
    assert by_host["pay-2"]["exception"]["reason"] == "replaced in Q3"
    assert by_host["pay-1"]["accepted"] is False and by_host["pay-1"]["exception"] is None

    rows = {r["host"]: r for r in download(client, "csv", "?rule=CTR-PRIVILEGED")}
    assert (rows["pay-2"]["accepted"], rows["pay-1"]["accepted"]) == ("yes", "")

    log = download(client, "sarif", "?rule=CTR-PRIVILEGED")
    check_sarif(log)
    results = {r["properties"]["host"]: r for r in log["runs"][0]["results"]}
    assert results["pay-2"]["suppressions"] == [
        {
            "kind": "external",
            "status": "accepted",
            "justification": "replaced in Q3",
            "properties": {
                "owner": "maya",
                "expiresAt": Finding.objects.get(
                    host__name="pay-2"
                ).exception.expires_at.isoformat(),
            },
        }
    ]
    assert "suppressions" not in results["pay-1"]

    failing = download(client, "json", "?state=failing")
    assert "pay-2" not in hosts_of(failing) and "pay-1" in hosts_of(failing)
    assert hosts_of(download(client, "json", "?state=accepted")) == {"pay-2"}


def test_accepted_findings_fold_under_the_rule_table_with_accept_links_above() -> None:
    fleet = scoped_fleet.build()
    accept_pay_2(fleet)
    page = fleet.client("security").get(reverse("rule-detail", args=[RULE])).content.decode()
    table, accepted = page.split('<details class="accepted-group"', 1)
    assert "Accepted risks (1)" in accepted and "/hosts/pay-2/" in accepted
    assert 'class="finding-row finding-accepted"' in accepted
    assert "sev-critical" not in accepted  # out of the red
    assert "/hosts/pay-2/" not in table.split('id="findings"', 1)[1]
    # Every failing row offers "Accept…" for that one container on that host.
    accept = re.findall(r'class="accept-link" href="([^"]+)"', table)
    assert len(accept) == 2
    assert html.unescape(accept[0]).startswith(
        "/exceptions/?rule_id=CTR-PRIVILEGED&host=pay-1&container_pattern=shop&next="
    )


def test_the_container_page_folds_its_accepted_findings() -> None:
    fleet = scoped_fleet.build()
    accept_pay_2(fleet)
    url = reverse("container-detail", args=["pay-2", fleet.containers["pay-2"]])
    page = fleet.client("security").get(url).content.decode()
    assert "Every rule failing on this container is an accepted risk." in page
    assert "Accepted risks (1)" in page


def test_viewers_get_no_accept_link() -> None:
    fleet = scoped_fleet.build()
    for url in (reverse("rule-detail", args=[RULE]), reverse("host-detail", args=["pay-1"])):
        assert "accept-link" not in fleet.client("viewer").get(url).content.decode()
        assert "accept-link" in fleet.client("security").get(url).content.decode()


def test_the_host_page_folds_an_accepted_subject() -> None:
    fleet = scoped_fleet.build()
    accept_pay_2(fleet)
    page = fleet.client("security").get(reverse("host-detail", args=["pay-2"])).content.decode()
    assert '<li class="subject subject-accepted">' in page
    assert '<details class="accepted-subject">' in page and "accepted risk" in page
    assert "accept-link" not in page  # nothing left to accept here


def test_subject_lists_split_into_failing_and_accepted() -> None:
    from types import SimpleNamespace

    from findings.templatetags.drilldown import accepted_only, failing_only

    subjects = [SimpleNamespace(name="a", accepted=False), SimpleNamespace(name="b", accepted=True)]
    assert [s.name for s in failing_only(subjects)] == ["a"]
    assert [s.name for s in accepted_only(subjects)] == ["b"]
    assert failing_only(None) == [] and accepted_only(None) == []

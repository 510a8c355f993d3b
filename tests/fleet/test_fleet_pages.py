"""The fleet table in pages of 50: which hosts a page shows, links that keep the filters and
work with and without htmx, lenient page numbers, counters over the whole fleet, and a
statement count that does not grow with the fleet."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from findings.models import HostPosture
from fleet.queries import PAGE_SIZE
from hosts.models import Host
from tests.factories import ScanRunFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def user_client(client: Client) -> Client:
    client.force_login(UserFactory())
    return client


def add_hosts(start: int, count: int) -> None:
    """GIVEN hosts host0000.. : even ones env=prod, every third failing critical rules,
    every fifth with a scan error, every tenth scanning, every seventh never scanned.

    Bulk-created: the factories' one scan run per posture would make 1,000 hosts slow."""
    now = timezone.now()
    hosts = Host.objects.bulk_create(
        Host(
            name=f"host{i:04d}",
            endpoint=f"tcp://host{i:04d}.example.org:2376",
            labels={"env": "prod" if i % 2 == 0 else "staging"},
            scan_interval=15,
        )
        for i in range(start, start + count)
    )
    postures = []
    for host in hosts:
        i = int(host.name.removeprefix("host"))
        if i % 10 == 0:
            ScanRunFactory(host=host, active=True)
        if i % 7 == 6:
            continue
        postures.append(
            HostPosture(
                host=host,
                score=50 + i % 50,
                grade="B",
                failing_critical=1 if i % 3 == 0 else 0,
                last_success_at=now - timedelta(minutes=5),
                last_attempt_at=now - timedelta(minutes=5),
                last_error_class="timeout" if i % 5 == 0 else "",
            )
        )
    HostPosture.objects.bulk_create(postures)


def get(client: Client, params: dict | None = None, **headers: str) -> str:
    # These tests are about paging, read in name order; the page opens worst first
    # (tests/fleet/test_fleet.py), so the order is asked for unless a test chooses one.
    response = client.get(reverse("fleet"), {"sort": "name", **(params or {})}, headers=headers)
    assert response.status_code == 200
    return response.content.decode()


def host_names(html: str) -> list[str]:
    return re.findall(r'class="host-link" href="/hosts/[^/]+/">([^<]+)</a>', html)


def pager_links(html: str) -> dict[str, tuple[str, str]]:
    """Pager link text -> (href, hx-get)."""
    nav = re.search(r'<nav class="pager".*?</nav>', html, re.S)
    assert nav, "no pager"
    link = r'<a (?:rel="\w+" )?href="([^"]*)" hx-get="([^"]*)"[^>]*>([^<]+)</a>'
    links = re.findall(link, nav[0])
    return {text: (href, hx_get) for href, hx_get, text in links}


def test_the_first_page_shows_the_first_50_hosts_and_where_they_sit(user_client: Client):
    add_hosts(0, 125)

    html = get(user_client)

    assert PAGE_SIZE == 50
    assert host_names(html) == [f"host{i:04d}" for i in range(50)]
    assert "hosts 1–50 of 125" in html
    assert "page 1 of 3" in html
    assert set(pager_links(html)) == {"next ›", "last »"}
    assert pager_links(html)["next ›"] == ("?sort=name&amp;page=2", "?sort=name&amp;page=2")
    assert pager_links(html)["last »"] == ("?sort=name&amp;page=3", "?sort=name&amp;page=3")


def test_page_two_shows_the_next_50_with_links_both_ways(user_client: Client):
    add_hosts(0, 125)

    html = get(user_client, {"page": "2"})

    assert host_names(html) == [f"host{i:04d}" for i in range(50, 100)]
    assert "hosts 51–100 of 125" in html
    links = pager_links(html)
    # Page 1 is the URL without ?page: one shareable address per page.
    assert links["« first"] == ("?sort=name", "?sort=name")
    assert links["‹ previous"] == ("?sort=name", "?sort=name")
    assert links["next ›"] == ("?sort=name&amp;page=3", "?sort=name&amp;page=3")
    assert links["last »"] == ("?sort=name&amp;page=3", "?sort=name&amp;page=3")


def test_the_last_page_holds_the_rest(user_client: Client):
    add_hosts(0, 125)

    html = get(user_client, {"page": "3"})

    assert host_names(html) == [f"host{i:04d}" for i in range(100, 125)]
    assert "hosts 101–125 of 125" in html
    assert set(pager_links(html)) == {"« first", "‹ previous"}


def test_page_links_keep_every_filter_and_the_sort(user_client: Client):
    add_hosts(0, 300)
    params = {"q": "host", "label": "env=prod", "status": "ok", "sort": "-name", "page": "2"}

    html = get(user_client, params)

    # ok: not scanning (i % 10), no error (i % 5), scanned (i % 7 != 6); env=prod: even.
    ok = [i for i in range(300) if i % 2 == 0 and i % 5 and i % 7 != 6]
    assert host_names(html) == [f"host{i:04d}" for i in sorted(ok, reverse=True)[50:100]]
    kept = "q=host&amp;label=env%3Dprod&amp;status=ok&amp;sort=-name"
    links = pager_links(html)
    assert links["‹ previous"] == (f"?{kept}", f"?{kept}")
    assert links["next ›"] == (f"?{kept}&amp;page=3", f"?{kept}&amp;page=3")
    for tag in re.findall(r"<nav class=\"pager\".*?</nav>", html, re.S)[0].split("<a ")[1:]:
        assert 'hx-target="#fleet-table"' in tag and 'hx-push-url="true"' in tag


def test_a_new_sort_or_filter_starts_again_on_page_one(user_client: Client):
    add_hosts(0, 250)

    html = get(user_client, {"page": "2", "sort": "score"})

    sort_links = re.findall(r'<th scope="col" class="sortable[^"]*">\s*<a href="([^"]*)"', html)
    assert sort_links and all("page=" not in link for link in sort_links)
    form = re.search(r'<form class="filters".*?</form>', html, re.S)[0]
    assert 'name="page"' not in form


def test_an_htmx_request_for_page_two_gets_only_the_table(user_client: Client):
    add_hosts(0, 250)

    html = get(user_client, {"page": "2", "label": "env=staging"}, **{"HX-Request": "true"})

    assert html.lstrip().startswith('<section id="fleet-table"')
    assert "<html" not in html
    assert host_names(html) == [f"host{i:04d}" for i in range(101, 200, 2)]
    assert "hosts 51–100 of 125" in html
    assert 'id="fleet-counts" class="counts" hx-swap-oob="true"' in html


@pytest.mark.parametrize("page", ["4", "99", "99999999999999999999999"])
def test_a_page_past_the_end_shows_the_last_page(user_client: Client, page: str):
    add_hosts(0, 125)

    html = get(user_client, {"page": page})

    assert host_names(html)[0] == "host0100"
    assert "hosts 101–125 of 125" in html


@pytest.mark.parametrize("page", ["abc", "", "0", "-3", "1.5", "2; DROP TABLE"])
def test_a_garbage_page_number_shows_page_one(user_client: Client, page: str):
    add_hosts(0, 125)

    html = get(user_client, {"page": page})

    assert host_names(html)[0] == "host0000"
    assert "hosts 1–50 of 125" in html


def test_counters_count_the_whole_fleet_and_the_foot_the_whole_selection(user_client: Client):
    add_hosts(0, 250)

    html = get(user_client, {"label": "env=prod", "page": "2"})

    # Header: every host, not the 50 rows of this page nor the 125 the filter keeps.
    assert "<strong>250</strong> hosts" in html
    scanned = [i for i in range(250) if i % 7 != 6]
    assert f"<strong>{sum(1 for i in scanned if i % 3 == 0)}</strong> failing" in html
    assert f"<strong>{sum(1 for i in scanned if i % 5 == 0)}</strong> scan errors" in html
    assert "<strong>25</strong> scanning" in html
    # Foot: where this page sits in what the filter keeps.
    assert len(host_names(html)) == 50
    assert "hosts 51–100 of 125" in html


def test_one_page_of_hosts_needs_no_pager(user_client: Client):
    add_hosts(0, 3)

    html = get(user_client, {"page": "2"})

    assert host_names(html) == ["host0000", "host0001", "host0002"]
    assert "3 hosts shown" in html
    assert 'class="pager"' not in html


def test_large_totals_are_grouped_in_the_reader_s_language(user_client: Client):
    add_hosts(0, 1000)

    english = get(user_client, {"page": "2"})
    french = get(user_client, {"page": "2"}, **{"Accept-Language": "fr"})

    assert "hosts 51–100 of 1,000" in english
    assert re.search(r"hôtes 51 à 100 sur 1\s000", french)
    assert "page 2 sur 20" in french


def test_the_polled_row_keeps_its_severity_tooltips(user_client: Client):
    # The row alone (?row=1, polled while a scan runs) gets the titles from its own view.
    add_hosts(0, 1)

    response = user_client.get(reverse("host-status", args=["host0000"]), {"row": "1"})
    html = response.content.decode()

    assert 'title="critical"' in html and 'title="low"' in html
    assert 'title="critical"' in get(user_client)


def statements(client: Client, params: dict, **headers: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        get(client, params, **headers)
    return len(ctx.captured_queries)


VARIANTS = [
    ({}, {}),
    ({"page": "2"}, {"HX-Request": "true"}),
    ({"label": "env=prod", "status": "failing", "page": "2"}, {}),
    ({"sort": "score", "status": "stale", "page": "9"}, {"HX-Request": "true"}),
    ({"q": "host", "status": "scanning", "page": "x"}, {"HX-Request": "true"}),
]


@pytest.mark.parametrize(("params", "headers"), VARIANTS)
def test_a_page_costs_the_same_for_3_or_150_hosts(
    user_client: Client, params: dict, headers: dict[str, str]
):
    add_hosts(0, 3)
    with_three = statements(user_client, params, **headers)

    add_hosts(3, 147)
    with_150 = statements(user_client, params, **headers)

    assert with_150 == with_three
    # session, user, the account's role and teams (read on every request, so that a
    # revoked role takes effect at once), the fleet's scan intervals (stale counter), the
    # header counters with the filtered total, the page; the stale filter reads the
    # intervals once more. No COUNT of its own for the pager. A whole page also reads the
    # summary strip's findings (its host figures ride on the counters' statement).
    whole_page = "HX-Request" not in headers
    assert with_three <= (7 if params.get("status") == "stale" else 6) + whole_page

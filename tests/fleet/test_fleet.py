"""The fleet page: rows, sorting, filters, the htmx fragment, and a flat query count."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from hosts.models import Host
from scans.models import ScanRun
from tests.factories import HostFactory, HostPostureFactory, ScanRunFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def user_client(client: Client) -> Client:
    client.force_login(UserFactory())
    return client


def host_names(html: str) -> list[str]:
    return re.findall(r'class="host-link" href="/hosts/[^/]+/">([^<]+)</a>', html)


def make_fleet() -> dict[str, Host]:
    """GIVEN one host in each state the status column knows."""
    good = HostFactory(name="alpha", labels={"env": "prod", "team": "payments"})
    HostPostureFactory(host=good, score=95, grade="A", failing_high=0, failing_medium=1)
    bad = HostFactory(
        name="bravo", endpoint="tcp://bravo.example.org:2376", labels={"env": "staging"}
    )
    HostPostureFactory(host=bad, score=41, grade="F", failing_critical=2, failing_high=3)
    broken = HostFactory(
        name="charlie", endpoint="ssh://ops@charlie.example.org", labels={"env": "prod"}
    )
    posture = HostPostureFactory(
        host=broken, score=77, grade="C", last_success_at=timezone.now() - timedelta(hours=2)
    )
    failed = ScanRunFactory(host=broken, failed=True, error_class="tls_verify")
    posture.last_scan = failed
    posture.last_error_class = "tls_verify"
    posture.last_attempt_at = timezone.now()
    posture.consecutive_failures = 1
    posture.save()
    never = HostFactory(name="delta")
    scanning = HostFactory(name="echo")
    ScanRunFactory(host=scanning, active=True)
    stale = HostFactory(name="foxtrot", scan_interval=10)
    old = timezone.now() - timedelta(hours=5)
    HostPostureFactory(host=stale, score=88, grade="B", last_success_at=old, last_attempt_at=old)
    return {h.name: h for h in (good, bad, broken, never, scanning, stale)}


def test_fleet_lists_hosts_with_score_status_and_labels(user_client: Client):
    make_fleet()

    response = user_client.get(reverse("fleet"))
    html = response.content.decode()

    assert response.status_code == 200
    # Worst first: lowest score on top, hosts without a score last, ties by name.
    assert host_names(html) == ["bravo", "charlie", "foxtrot", "alpha", "delta", "echo"]
    assert '<span class="grade grade-a">A</span><span class="score">95</span>' in html
    assert '<span class="grade grade-f">F</span><span class="score">41</span>' in html
    assert ">env=prod</a>" in html and ">team=payments</a>" in html
    assert '<span class="transport transport-tls">tls</span>' in html
    assert '<span class="transport transport-ssh">ssh</span>' in html
    # The failed scan shows its error while keeping the last good score "as of" its time.
    assert "TLS verification failed" in html
    assert '<span class="grade grade-c">C</span>' in html
    assert "as of 2" in html
    assert "Never scanned" in html
    assert "Scanning…" in html
    assert "Stale" in html
    # Header counters: 6 hosts, 4 with failing rules, 1 scan error.
    assert "<strong>6</strong> hosts" in html
    assert "<strong>4</strong> failing" in html
    assert "<strong>1</strong> scan errors" in html
    assert "<strong>1</strong> scanning" in html


def test_only_rows_with_an_active_scan_poll(user_client: Client):
    hosts = make_fleet()

    html = user_client.get(reverse("fleet")).content.decode()

    polling = re.findall(r'hx-get="(/hosts/[^"]+/status\?row=1)" hx-trigger="every 2s"', html)
    assert polling == [f"/hosts/{hosts['echo'].name}/status?row=1"]


@pytest.mark.parametrize(
    "sort, expected",
    [
        ("name", ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]),
        ("-name", ["foxtrot", "echo", "delta", "charlie", "bravo", "alpha"]),
        ("score", ["bravo", "charlie", "foxtrot", "alpha", "delta", "echo"]),
        ("-score", ["alpha", "foxtrot", "charlie", "bravo", "delta", "echo"]),
        ("-failing", ["bravo", "charlie", "foxtrot", "alpha", "delta", "echo"]),
    ],
)
def test_sorting(user_client: Client, sort: str, expected: list[str]):
    make_fleet()

    html = user_client.get(reverse("fleet"), {"sort": sort}).content.decode()

    assert host_names(html) == expected


def test_sort_links_toggle_and_keep_filters(user_client: Client):
    make_fleet()

    html = user_client.get(reverse("fleet"), {"sort": "score", "q": "a"}).content.decode()

    assert 'href="?q=a&amp;sort=-score"' in html
    assert 'hx-get="?q=a&amp;sort=-score"' in html


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"q": "bravo.example"}, ["bravo"]),
        ({"q": "CHAR"}, ["charlie"]),
        ({"label": "env=prod"}, ["alpha", "charlie"]),
        ({"label": ["env=prod", "team=payments"]}, ["alpha"]),
        ({"label": "team"}, ["alpha"]),
        ({"status": "error"}, ["charlie"]),
        ({"status": "never"}, ["delta", "echo"]),
        ({"status": "scanning"}, ["echo"]),
        ({"status": "ok"}, ["alpha", "bravo"]),
        ({"status": "stale"}, ["charlie", "foxtrot"]),
        ({"status": "failing"}, ["alpha", "bravo", "charlie", "foxtrot"]),
        ({"grade": "f"}, ["bravo"]),
        (  # unknown values are ignored: the default order, worst first
            {"status": "bogus", "grade": "Z", "sort": "evil"},
            ["bravo", "charlie", "foxtrot", "alpha", "delta", "echo"],
        ),
    ],
)
def test_filters(user_client: Client, params: dict, expected: list[str]):
    make_fleet()

    html = user_client.get(reverse("fleet"), {"sort": "name", **params}).content.decode()

    assert host_names(html) == expected


def test_htmx_request_gets_only_the_table_and_the_counters(user_client: Client):
    make_fleet()

    response = user_client.get(reverse("fleet"), {"q": "alpha"}, headers={"HX-Request": "true"})
    html = response.content.decode()

    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="fleet-table"')
    assert "<html" not in html and 'class="filters"' not in html
    assert host_names(html) == ["alpha"]
    assert 'id="fleet-counts" class="counts" hx-swap-oob="true"' in html
    assert "HX-Request" in response["Vary"]


def test_boosted_request_gets_the_whole_page(user_client: Client):
    response = user_client.get(
        reverse("fleet"), headers={"HX-Request": "true", "HX-Boosted": "true"}
    )

    assert b"<html" in response.content


def test_history_restore_request_gets_the_whole_page(user_client: Client):
    # htmx swaps a history-cache miss into <body>: a fragment there would lose the page.
    headers = {"HX-Request": "true", "HX-History-Restore-Request": "true"}

    response = user_client.get(reverse("fleet"), headers=headers)

    assert b"<html" in response.content


def test_filter_form_works_with_and_without_javascript(user_client: Client):
    html = user_client.get(reverse("fleet")).content.decode()

    form = re.search(r'<form class="filters"[^>]*>', html).group(0)
    assert 'method="get" action="/"' in form
    assert 'hx-get="/"' in form and 'hx-push-url="true"' in form
    assert 'hx-target="#fleet-table"' in form
    assert "delay:300ms" in form
    # Every hx-get on the page also has a plain href or a form action behind it.
    for tag in re.findall(r"<a [^>]*hx-get=[^>]*>", html):
        assert " href=" in tag


def test_hostile_labels_and_names_are_escaped(user_client: Client):
    HostFactory(name="evil", labels={"x": "<script>alert(1)</script>"})

    html = user_client.get(reverse("fleet")).content.decode()

    assert "<script>alert(1)" not in html
    assert "x=&lt;script&gt;alert(1)&lt;/script&gt;" in html


def fleet_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(reverse("fleet"), {"sort": "-score"}).status_code == 200
    return len(ctx.captured_queries)


def add_hosts(start: int, count: int) -> None:
    for i in range(start, start + count):
        host = HostFactory(name=f"host{i:03d}", labels={"env": "prod", "n": str(i)})
        if i % 3 == 0:
            ScanRunFactory(host=host, active=True)
        elif i % 3 == 1:
            HostPostureFactory(host=host, score=50 + i, grade="D", last_error_class="timeout")
        else:
            HostPostureFactory(host=host)


def test_fleet_query_count_does_not_grow_with_hosts(user_client: Client):
    add_hosts(0, 3)
    with_three = fleet_queries(user_client)

    add_hosts(3, 27)
    with_thirty = fleet_queries(user_client)

    assert Host.objects.count() == 30
    assert ScanRun.objects.active().count() == 10
    assert with_thirty == with_three
    # today 7: session, user, access (role and teams), the scan intervals, the header
    # counters with the summary's hosts per grade and changes, the summary's findings, the
    # hosts (their score 24 h ago a subquery of that same statement)
    assert with_three <= 7


def test_the_default_order_is_worst_first_and_its_link_carries_no_sort(user_client: Client):
    make_fleet()

    html = user_client.get(reverse("fleet")).content.decode()

    # The score column is the current order: its link reverses it; name needs ?sort=name.
    assert 'href="?sort=-score"' in html and 'href="?sort=name"' in html
    assert '<input type="hidden" name="sort"' not in html

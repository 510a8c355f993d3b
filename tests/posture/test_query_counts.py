"""Query-count baselines for the pages that had none: the number of statements a page costs
does not grow with the fleet (3 hosts or 30) nor with a host's findings (10 or 200).

bench/bench_pages.py measures the same pages at 1,000 hosts and 1,000,000 findings; a
statement per row here would be thousands there. Also checks that the bench's seeding
writes what it promises, at a size cheap enough for the suite.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from alerts.models import Notification, Subscription
from findings.models import Container, Finding, HostPosture, Image, ScoreSample
from hosts.models import Host
from rules import Severity
from scans.models import ScanRun
from tests.factories import (
    FindingFactory,
    HostFactory,
    HostPostureFactory,
    ScanRunFactory,
    UserFactory,
)
from trends.models import DailyScore

pytestmark = pytest.mark.django_db

RULES = [("CTR-PRIVILEGED", Severity.CRITICAL), ("CTR-USER", Severity.HIGH), ("IMG-USER", 2)]


@pytest.fixture
def user_client(client: Client) -> Client:
    client.force_login(UserFactory(username="counted"))
    return client


def statements(client: Client, url: str, **headers: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url, headers=headers).status_code == 200
    return len(ctx.captured_queries)


def add_findings(host: Host, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        rule_id, severity = RULES[i % len(RULES)]
        FindingFactory(host=host, rule_id=rule_id, severity=severity, subject_name=f"c{i}")


def add_hosts(start: int, count: int) -> None:
    """GIVEN hosts in every state the fleet shows, each failing CTR-PRIVILEGED once."""
    for i in range(start, start + count):
        host = HostFactory(name=f"host{i:03d}", labels={"env": "prod", "team": "web"})
        if i % 3 == 0:
            ScanRunFactory(host=host, active=True)
        HostPostureFactory(
            host=host, failing_critical=1, last_error_class="" if i % 4 else "timeout"
        )
        add_findings(host, 1)


def assert_flat(grow: Callable[[], None], measure: Callable[[], int]) -> int:
    before = measure()
    grow()
    after = measure()
    assert after == before
    return before


def test_host_page_costs_the_same_with_10_or_200_findings(user_client: Client):
    host = HostFactory(name="busy")
    HostPostureFactory(host=host)
    for _ in range(5):
        ScanRunFactory(host=host)
    add_findings(host, 10)
    url = f"/hosts/{host.name}/"

    count = assert_flat(
        lambda: add_findings(host, 190, start=10), lambda: statements(user_client, url)
    )

    assert Finding.objects.open().filter(host=host).count() == 200
    # 8 for the host itself (session, user, host, posture, active scan, history, findings…),
    # then the image vulnerabilities panel (images, inventories, matches, decisions, data age),
    # and the header's fleet counters (2; cached a few seconds outside tests).
    assert count <= 17


def test_rule_page_costs_the_same_for_3_or_30_failing_hosts(user_client: Client):
    add_hosts(0, 3)
    url = "/rules/CTR-PRIVILEGED/"
    # The fleet totals are cached process-wide: fill them first, or the first measure
    # depends on which test ran before.
    statements(user_client, url)

    count = assert_flat(lambda: add_hosts(3, 27), lambda: statements(user_client, url))

    assert Finding.objects.open().filter(rule_id="CTR-PRIVILEGED").count() == 30
    # +2: the header's fleet counters (cached a few seconds outside tests).
    assert count <= 10


def test_rule_page_costs_the_same_with_10_or_200_findings(user_client: Client):
    host = HostFactory(name="busy")
    HostPostureFactory(host=host)

    def fail(start: int, count: int) -> None:
        for i in range(start, start + count):
            FindingFactory(host=host, subject_name=f"c{i}")

    fail(0, 10)

    assert_flat(lambda: fail(10, 190), lambda: statements(user_client, "/rules/CTR-PRIVILEGED/"))


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("/", {"HX-Request": "true"}),
        ("/?label=env=prod&status=failing", {}),
        ("/?label=env=prod&status=failing", {"HX-Request": "true"}),
        ("/?sort=score&status=stale", {"HX-Request": "true"}),
    ],
)
def test_fleet_variants_cost_the_same_for_3_or_30_hosts(
    user_client: Client, url: str, headers: dict[str, str]
):
    add_hosts(0, 3)

    count = assert_flat(lambda: add_hosts(3, 27), lambda: statements(user_client, url, **headers))

    # session, user, the hosts, the header counters; the stale filter also reads the
    # fleet's distinct scan intervals once. A whole page adds the summary strip's one
    # findings count (an htmx swap of the table does not redraw the strip).
    assert count <= (6 if headers else 7)


def test_alerts_page_costs_the_same_with_3_or_30_notifications(user_client: Client):
    user = UserFactory(username="counted")

    def notify(count: int) -> None:
        Subscription.objects.create(user=user, scope="all")
        Notification.objects.bulk_create(
            Notification(user=user, kind="regression", to="x@example.org") for _ in range(count)
        )

    notify(3)

    count = assert_flat(lambda: notify(27), lambda: statements(user_client, "/alerts/"))

    # +2: the header's fleet counters (cached a few seconds outside tests); +1: the form's
    # "matches N hosts" preview, drawn on the first load so that it shows without script;
    # +1: the recent deliveries of the account's chat and webhook channels (issue 13).
    assert count <= 9


def bench_pages() -> Any:
    path = Path(__file__).resolve().parents[2] / "bench" / "bench_pages.py"
    spec = importlib.util.spec_from_file_location("bench_pages", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_pages", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_bench_seeding_writes_the_promised_rows():
    bench = bench_pages()

    result = bench.seed(hosts=4, findings=300)

    assert Host.objects.count() == 4
    scanned = 4  # host_state(): hosts 0-3 are all "ok"
    assert HostPosture.objects.count() == scanned
    assert Container.objects.count() == scanned * bench.CONTAINERS
    assert Image.objects.count() == scanned * bench.IMAGES
    assert Finding.objects.count() == 300
    assert 10 <= Finding.objects.open().count() <= 60  # ~10 % open
    # Each open finding is counted in its host's rule summary.
    posture = HostPosture.objects.get(host__name="node-0000")
    fails = sum(e["fail"] for e in posture.rule_summary.values())
    assert fails == Finding.objects.open().filter(host=posture.host).count()
    days = bench.HISTORY_DAYS - 1
    assert DailyScore.objects.count() == scanned * days
    assert ScoreSample.objects.count() >= scanned * days * bench.SAMPLES_PER_DAY
    assert ScanRun.objects.filter(score__isnull=False).count() < ScoreSample.objects.count()
    assert result["counts"]["findings"] == 300

"""Hostile strings from a daemon reach the pages escaped: host page, rule page, evidence.

The data takes the real road: the fake engine answers with them, a scan collects, redacts,
evaluates and stores them, and an admin opens the pages.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from findings.models import Finding, HostPosture
from hosts.models import Host
from lab.fake_engine import FakeEngine
from scans import finish, services
from scans.models import ScanRun
from scans.transports import ErrorClass, Limits
from tests.factories import UserFactory
from tests.scans import fake
from tests.strategies import CRASHED, HOSTILE_STRINGS

pytestmark = pytest.mark.django_db
LIMITS = Limits(deadline=5, connect_timeout=2, read_timeout=2)
# What must never appear unescaped in a page.
RAW = [
    "<script>alert(1)</script>",
    '"onmouseover="alert(1)',
    "'><img src=x onerror=alert(1)>",
    "</code></pre><script>alert(2)</script>",
    "\x00",
]


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    name = "/" + "".join(HOSTILE_STRINGS)  # markup, bidi overrides, NUL, 10k characters
    answers = fake.responses(name=name, CapAdd=HOSTILE_STRINGS, Privileged=True)
    inspect = answers[f"/containers/{fake.CID}/json"]
    inspect["Config"]["Labels"] = {s[:200]: s for s in HOSTILE_STRINGS}
    inspect["Config"]["Env"] = [f"{s[:100]}=hunter2" for s in HOSTILE_STRINGS]
    answers[f"/images/{fake.IID}/json"]["RepoTags"] = [fake.HOSTILE + ":latest"]
    engine = FakeEngine(Path(f"/tmp/pst-fake-{time.monotonic_ns()}.sock"), answers).start()
    yield engine
    engine.stop()


@pytest.fixture
def admin(client: Client) -> Client:
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def get(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code in (200, 286)  # 286: the status partial stops polling
    return response.content.decode()


def assert_escaped(html: str) -> None:
    for raw in RAW:
        assert raw not in html, raw
    assert "hunter2" not in html


def test_hostile_scan_renders_escaped(engine: FakeEngine, admin: Client) -> None:
    host = Host.objects.create(
        name="hostile", endpoint=engine.url, labels={fake.HOSTILE: '"onmouseover="alert(1)'}
    )
    run, _ = services.request_scan(host, enqueue=False)
    run = services.run_scan(run.pk, LIMITS)
    assert run.status == ScanRun.Status.SUCCEEDED, run.error_detail
    finding = Finding.objects.open().get(host=host, rule_id="CTR-CAP-ADD")
    assert "<script>" in finding.evidence[0]["value"]  # stored as the daemon said it
    # Every rule read the hostile data: none fell back to the engine's crash verdict.
    summary = HostPosture.objects.get(host=host).rule_summary
    assert [rule for rule, entry in summary.items() if CRASHED in entry["reasons"]] == []

    html = get(admin, reverse("host-detail", args=["hostile"]))
    assert_escaped(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown, as text
    assert "\u202e" in html  # kept: bidi controls are text, isolated by the page's markup

    for rule_id in ("CTR-CAP-ADD", "CTR-PRIVILEGED"):
        html = get(admin, reverse("rule-detail", args=[rule_id]))
        assert_escaped(html)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert_escaped(get(admin, reverse("fleet")))


def test_hostile_error_detail_renders_escaped(admin: Client) -> None:
    host = Host.objects.create(name="angry", endpoint="unix:///tmp/pst-nothing.sock")
    run, _ = services.request_scan(host, enqueue=False)
    detail = "/info: HTTP 500 " + " ".join(HOSTILE_STRINGS)
    finish.store_failure(run, ErrorClass.DAEMON_ERROR, detail.replace("\x00", ""), 10)
    html = get(admin, reverse("host-detail", args=["angry"]))
    assert_escaped(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert_escaped(get(admin, reverse("host-status", args=["angry"])))

"""Prometheus metrics: what a scrape says about the fleet, and who may scrape."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from ipaddress import ip_network

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from access.models import Team
from findings.models import Finding, HostPosture
from hosts.models import Host
from scans.models import ScanRun
from tests.factories import UserFactory
from vulns.models import VulnOccurrence

pytestmark = pytest.mark.django_db


def value(text: str, sample: str) -> float:
    """A sample's value, named as PromQL would select it: `name{label="value",...}` (the
    exposition's label order is the library's, so the text is parsed, not matched)."""
    name, _, rest = sample.partition("{")
    wanted = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == wanted:
                return s.value
    raise AssertionError(f"{sample} not in\n{text}")


@pytest.fixture
def fleet() -> None:
    now = timezone.now()
    ok = Host.objects.create(name="ok", endpoint="unix:///tmp/a.sock")
    HostPosture.objects.create(host=ok, score=90, last_success_at=now, last_attempt_at=now)
    down = Host.objects.create(name="down", endpoint="unix:///tmp/b.sock")
    HostPosture.objects.create(
        host=down,
        last_success_at=now - timedelta(days=1),
        last_attempt_at=now,
        last_error_class="unreachable",
        consecutive_failures=4,
    )
    Host.objects.create(name="new", endpoint="unix:///tmp/c.sock")
    Host.objects.create(name="off", endpoint="unix:///tmp/d.sock", enabled=False)
    ScanRun.objects.create(
        host=ok, status="succeeded", finished_at=now, duration_ms=1500, started_at=now
    )
    ScanRun.objects.create(host=down, status="failed", finished_at=now, error_class="unreachable")
    ScanRun.objects.create(host=down, requested_at=now - timedelta(seconds=42))  # queued
    Finding.objects.create(host=ok, rule_id="CTR-PRIVILEGED", severity=4, subject_kind="container")
    # Accepted by a risk exception: out of the score, so out of the "open" gauge too.
    Finding.objects.create(
        host=ok, rule_id="CTR-PIDS-LIMIT", severity=4, subject_kind="container", accepted=True
    )


def test_scrape_reports_hosts_failures_durations_and_lag(admin_client: Client, fleet: None):
    response = admin_client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.content.decode()
    assert value(text, 'posture_hosts{state="ok"}') == 1
    assert value(text, 'posture_hosts{state="never"}') == 1
    assert value(text, 'posture_hosts{state="paused"}') == 1
    # "down" has a scan queued: it counts as scanning, and its last failure by class.
    assert value(text, 'posture_hosts{state="scanning"}') == 1
    assert value(text, 'posture_hosts_failing{error_class="unreachable"}') == 1
    assert value(text, 'posture_scans_finished_15m{status="failed",error_class="unreachable"}') == 1
    assert value(text, 'posture_scan_duration_seconds{quantile="0.5"}') == 1.5
    assert value(text, "posture_scan_duration_seconds_count") == 1
    assert value(text, "posture_scans_queued") == 1
    assert 41 <= value(text, "posture_queue_lag_seconds") < 60
    assert value(text, 'posture_findings_open{severity="critical"}') == 1
    assert value(text, 'posture_findings_accepted{severity="critical"}') == 1
    assert value(text, 'posture_findings_accepted{severity="high"}') == 0


def test_anonymous_scrape_is_refused_without_redirect(client: Client, fleet: None) -> None:
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"posture_hosts" not in response.content


def test_bearer_token(client: Client, fleet: None, settings) -> None:
    settings.POSTURE_METRICS = {"TOKEN": "s3cret-token", "ALLOW": []}
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert ok.status_code == 200 and b"posture_hosts" in ok.content


def test_allow_list_trusts_the_peer_address_not_forwarded_headers(
    client: Client, fleet: None, settings
) -> None:
    settings.POSTURE_METRICS = {"TOKEN": "", "ALLOW": [ip_network("127.0.0.0/8")]}
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.9").status_code == 200
    spoofed = client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert spoofed.status_code == 401


@pytest.mark.parametrize(
    "role, teams, expected",
    [
        ("admin", (), 200),
        ("security", (), 200),
        # The gauges are the whole fleet's: a team's account would read other teams' hosts.
        ("security", ("pay",), 403),
        ("operator", ("pay",), 403),
        ("viewer", (), 403),
    ],
)
def test_a_signed_in_account_needs_the_metrics_permission(
    client: Client, fleet: None, settings, role: str, teams: tuple[str, ...], expected: int
) -> None:
    settings.POSTURE_METRICS = {"TOKEN": "s3cret-token", "ALLOW": []}
    rows = [Team.objects.create(name=t, label=t) for t in teams]
    client.force_login(UserFactory(role=role, role__teams=rows))

    response = client.get("/metrics")
    with_token = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")

    assert response.status_code == expected
    assert (b"posture_hosts" in response.content) == (expected == 200)
    assert with_token.status_code == 200  # a scraper's token, whoever is signed in


def test_label_values_from_the_database_are_escaped(admin_client: Client, fleet: None) -> None:
    """An error class is a stored string: whatever it holds, the scrape stays parseable."""
    now = timezone.now()
    host = Host.objects.get(name="ok")
    ScanRun.objects.create(host=host, status="failed", finished_at=now, error_class='x"y\\z\n')

    text = admin_client.get("/metrics").content.decode()

    samples = {
        s.labels["error_class"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "posture_scans_finished_15m"
    }
    assert samples['x"y\\z\n'] == 1


def test_fleet_score_worker_clock_and_kev(admin_client: Client, fleet: None) -> None:
    host = Host.objects.get(name="ok")
    other = Host.objects.create(name="scored", endpoint="unix:///tmp/e.sock")
    HostPosture.objects.create(host=other, score=70, last_success_at=timezone.now())
    VulnOccurrence.objects.create(
        host=host, vuln="CVE-2024-1", package_name="openssl", kev=True, opened_at=timezone.now()
    )
    VulnOccurrence.objects.create(
        host=host, vuln="CVE-2024-2", package_name="zlib", opened_at=timezone.now()
    )
    VulnOccurrence.objects.create(
        host=host,
        vuln="CVE-2024-3",
        package_name="curl",
        kev=True,
        opened_at=timezone.now(),
        fixed_at=timezone.now(),
    )

    text = admin_client.get("/metrics").content.decode()

    assert value(text, "posture_fleet_score") == 80  # (90 + 70) / 2; "down" has no score
    assert value(text, "posture_hosts_scored") == 2
    assert value(text, "posture_vulnerabilities_open_kev") == 1
    last = max(ScanRun.objects.exclude(finished_at=None).values_list("finished_at", flat=True))
    assert value(text, "posture_last_scan_finished_timestamp_seconds") == pytest.approx(
        last.timestamp()
    )


def test_an_empty_fleet_has_no_score_rather_than_zero(admin_client: Client) -> None:
    text = admin_client.get("/metrics").content.decode()

    assert math.isnan(value(text, "posture_fleet_score"))
    assert value(text, "posture_last_scan_finished_timestamp_seconds") == 0


def test_openmetrics_when_the_scraper_asks_for_it(admin_client: Client, fleet: None) -> None:
    response = admin_client.get("/metrics", HTTP_ACCEPT="application/openmetrics-text")

    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.decode().endswith("# EOF\n")

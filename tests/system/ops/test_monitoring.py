"""The monitoring shipped under deploy/ reads series that /metrics really serves.

The Grafana dashboard parses and each of its queries names only series of a real scrape;
the alerting rules pass Debian's `promtool check rules`, fire in a `promtool test rules`
case, and name only real series too. A renamed gauge would otherwise leave a blank panel
and an alert that never fires, silently.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from findings.models import Finding, HostPosture
from hosts.models import Host
from scans.models import ScanRun

pytestmark = pytest.mark.django_db

DEPLOY = Path(settings.BASE_DIR) / "deploy"
DASHBOARD = DEPLOY / "grafana" / "posture.json"
RULES = DEPLOY / "prometheus" / "posture-rules.yml"
# Prometheus's own series, which a rule may name beside Posture's.
PROMETHEUS_SERIES = {"up"}
PROMQL_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
}
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool (Debian package prometheus) is not installed"
)


def series_in(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not its functions, labels, keywords)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings, e.g. label values
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\boffset\s+\w+", "", expr)
    names = set()
    for match in re.finditer(r"(?<![\w:.])[A-Za-z_:][\w:]*", expr):
        calls = re.match(r"\s*\(", expr[match.end() :])  # a function: rate(, clamp_min(
        if not calls and match.group().lower() not in PROMQL_WORDS:
            names.add(match.group())
    return names


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]


def rule_queries() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


@pytest.fixture
def scraped(admin_client: Client) -> set[str]:
    """Every family and sample name of a scrape of a small fleet with a scan of each kind."""
    now = timezone.now()
    host = Host.objects.create(name="ok", endpoint="unix:///tmp/a.sock")
    HostPosture.objects.create(host=host, score=90, last_success_at=now, last_attempt_at=now)
    ScanRun.objects.create(host=host, status="succeeded", finished_at=now, duration_ms=900)
    ScanRun.objects.create(host=host, status="failed", finished_at=now, error_class="auth")
    Finding.objects.create(host=host, rule_id="CTR-PRIVILEGED", severity=4, subject_kind="c")
    text = admin_client.get("/metrics").content.decode()
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names


def test_the_query_reader_finds_series_not_functions() -> None:
    expr = (
        'sum by (status) (rate(posture_a_total{x="y"}[5m])) / clamp_min(posture_b, 1)'
        " > posture_c offset 1d and time() - posture_d > 3"
    )
    assert series_in(expr) == {"posture_a_total", "posture_b", "posture_c", "posture_d"}


def test_the_dashboard_parses_and_reads_only_served_series(scraped: set[str]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = dashboard_queries()
    titles = {panel["title"] for panel in dashboard["panels"]}

    assert {"Fleet score", "Hosts by state", "Open findings by severity"} <= titles
    assert any("posture_vulnerabilities_open_kev" in q for q in queries)
    assert any("posture_scan_duration_seconds" in q for q in queries)
    named = set().union(*(series_in(q) for q in queries))
    assert named - PROMETHEUS_SERIES <= scraped, named - PROMETHEUS_SERIES - scraped


def test_the_alerting_rules_read_only_served_series(scraped: set[str]) -> None:
    named = set().union(*(series_in(q) for q in rule_queries()))

    assert {"posture_queue_lag_seconds", "posture_fleet_score"} <= named
    assert named - PROMETHEUS_SERIES <= scraped, named - PROMETHEUS_SERIES - scraped


@needs_promtool
def test_promtool_accepts_the_rules_and_the_dashboards_queries(tmp_path: Path) -> None:
    """The dashboard's queries checked as recording rules: promtool parses their PromQL."""
    as_rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"posture:dashboard:{i}", "expr": q}
                    for i, q in enumerate(dashboard_queries())
                ],
            }
        ]
    }
    recorded = tmp_path / "dashboard-rules.yml"
    recorded.write_text(yaml.safe_dump(as_rules))

    result = subprocess.run(
        [PROMTOOL, "check", "rules", str(RULES), str(recorded)],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_fires_worker_absent_and_score_drop(tmp_path: Path) -> None:
    """GIVEN a scan queued for 20 minutes with no worker, and a fleet score falling from
    80 to 70 within a day, WHEN promtool evaluates the rules, THEN PostureWorkerAbsent and
    PostureScoreDrop fire, and PostureMetricsDown does not while the scrape is up."""
    day = int(timedelta(days=1) / timedelta(minutes=5))
    cases = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "5m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    # Lag grows by 60 s a minute from 0: over 600 s after 10 minutes.
                    {"series": "posture_queue_lag_seconds", "values": "0+60x30"},
                    {"series": "posture_scans_queued", "values": "1x30"},
                    {"series": "posture_last_scan_finished_timestamp_seconds", "values": "0x30"},
                    {"series": 'up{job="posture"}', "values": "1x30"},
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "20m",
                        "alertname": "PostureWorkerAbsent",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "critical"},
                                "exp_annotations": {
                                    "summary": "No Posture worker is taking scans",
                                    "description": (
                                        "Scans have waited over 10 minutes for a worker, or"
                                        " none finished for 30 minutes while some wait. Check"
                                        " the worker processes (celery -A posture worker) and"
                                        " their connection to Redis and PostgreSQL."
                                    ),
                                },
                            }
                        ],
                    },
                    {"eval_time": "20m", "alertname": "PostureMetricsDown", "exp_alerts": []},
                ],
            },
            {
                "interval": "5m",
                "input_series": [
                    {"series": "posture_fleet_score", "values": f"80x{day} 70x12"},
                ],
                "alert_rule_test": [
                    {"eval_time": "23h", "alertname": "PostureScoreDrop", "exp_alerts": []},
                    {
                        "eval_time": f"{day * 5 + 45}m",
                        "alertname": "PostureScoreDrop",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning"},
                                "exp_annotations": {
                                    "summary": "The fleet score dropped to 70",
                                    "description": (
                                        "The fleet's mean score is more than 5 points below"
                                        " yesterday's; the trends page shows which rules."
                                    ),
                                },
                            }
                        ],
                    },
                ],
            },
        ],
    }
    spec = tmp_path / "posture-rules.test.yml"
    spec.write_text(yaml.safe_dump(cases))

    result = subprocess.run(
        [PROMTOOL, "test", "rules", str(spec)], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stdout + result.stderr

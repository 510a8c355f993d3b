"""An install from before the models moved between apps (issue 10) upgrades with its data.

The moves are state-only migrations: the tables keep their names, so every row, and every
foreign key between them, must come through untouched. Runs on the default database, so on
SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from alerts.models import Regression
from findings.models import Finding, HostPosture
from hosts.models import Host
from policy.models import RiskException, RuleOverride
from scans.models import ScanRun

pytestmark = pytest.mark.django_db(transaction=True)

# Where each app stood just before the move. Later migrations of these apps (findings gets
# new ones while this file is written) are reached through the graph's leaves, not by name.
BEFORE_THE_MOVE = [
    ("scans", "0008_rule_tally"),
    ("alerts", "0002_regression_problem_keys"),
    ("policy", "0001_initial"),
    ("findings", None),
]
# The apps that did not take part: at their latest (their leaves in the graph).
UNMOVED = ("hosts", "trends", "accounts")
# The app that held RiskException in the previous layout, replaced by policy's 0001.
REMOVED = ("exceptions", "0001_initial")


def _latest(executor: MigrationExecutor) -> list[tuple[str, str]]:
    executor.loader.build_graph()
    return executor.loader.graph.leaf_nodes()


def _before_the_move(executor: MigrationExecutor) -> list[tuple[str, str | None]]:
    leaves = [node for node in _latest(executor) if node[0] in UNMOVED]
    return [*BEFORE_THE_MOVE, *leaves]


@pytest.fixture
def executor() -> Iterator[MigrationExecutor]:
    executor = MigrationExecutor(connection)
    try:
        yield executor
    finally:
        # Leave the test database as every other test expects it: fully migrated. The
        # previous layout's record (exceptions.0001) stays: without it Django would take
        # policy.0001, which replaces it, for unapplied while later policy migrations are.
        executor = MigrationExecutor(connection)
        executor.migrate(_latest(executor))


def test_rows_and_their_relations_survive_the_move(executor: MigrationExecutor) -> None:
    """GIVEN a database migrated as the previous layout left it, exceptions.0001 recorded
    instead of policy.0001, with a host, a scan, an exception accepting a finding, a
    posture, an override and a regression
    WHEN it migrates to the latest state
    THEN the current models read every row with its relations."""
    targets = _before_the_move(executor)
    executor.migrate(targets)
    old = executor.loader.project_state([t for t in targets if t[1]]).apps
    now = timezone.now()

    host = old.get_model("hosts", "Host").objects.create(
        name="legacy01", endpoint="unix:///var/run/docker.sock", labels={"env": "prod"}
    )
    scan = old.get_model("scans", "ScanRun").objects.create(
        host=host, status="succeeded", requested_at=now, finished_at=now, score=64, grade="C"
    )
    exception = old.get_model("policy", "RiskException").objects.create(
        rule_id="CTR-PRIVILEGED",
        host=host,
        reason="the CI runner needs it",
        owner="ops@example.org",
        expires_at=now + datetime.timedelta(days=30),
    )
    finding = old.get_model("scans", "Finding").objects.create(
        host=host,
        rule_id="CTR-PRIVILEGED",
        severity=4,
        subject_kind="container",
        subject_key="a" * 64,
        subject_name="runner",
        opened_scan=scan,
        accepted=True,
        exception=exception,
    )
    old.get_model("scans", "HostPosture").objects.create(
        host=host,
        current_scan=scan,
        last_scan=scan,
        score=64,
        grade="C",
        rule_summary={"CTR-PRIVILEGED": {"failing": 1}},
    )
    old.get_model("scans", "RuleOverride").objects.create(
        rule_id="IMG-LATEST-TAG", host=host, action="disable", reason="pinned by digest"
    )
    old.get_model("alerts", "Regression").objects.create(
        host=host, kind="dangerous", key="subject:1", severity=4, finding=finding
    )
    # The previous layout recorded RiskException's migration under the removed app.
    recorder = MigrationRecorder(connection)
    recorder.migration_qs.filter(app="policy", name="0001_initial").delete()
    recorder.record_applied(*REMOVED)

    upgrade = MigrationExecutor(connection)
    upgrade.migrate(_latest(upgrade))

    host = Host.objects.get(name="legacy01")
    assert host.labels == {"env": "prod"}
    scan = ScanRun.objects.get(host=host)
    finding = Finding.objects.get(host=host)
    assert finding.opened_scan == scan
    assert finding.accepted
    assert finding.exception == RiskException.objects.get(host=host, rule_id="CTR-PRIVILEGED")
    assert finding.exception.reason == "the CI runner needs it"
    posture = HostPosture.objects.get(host=host)
    assert posture.current_scan == scan == posture.last_scan
    assert posture.rule_summary == {"CTR-PRIVILEGED": {"failing": 1}}
    assert RuleOverride.objects.get(rule_id="IMG-LATEST-TAG").host == host
    assert Regression.objects.get(host=host).finding == finding
    # policy.0001 stands in for the removed app's migration: recorded, not run again.
    assert recorder.migration_qs.filter(app="policy", name="0001_initial").exists()

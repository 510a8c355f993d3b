"""policy.0003 (four eyes): exceptions and overrides made before it stay in force, as
approved, with no requester or approver on record."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from policy.models import Review, RiskException, RuleOverride

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE = [("policy", "0002_ruleoverride_moved_from_scans")]


@pytest.fixture
def executor() -> Iterator[MigrationExecutor]:
    executor = MigrationExecutor(connection)
    try:
        yield executor
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_old_rows_are_approved(executor: MigrationExecutor) -> None:
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    host = old.get_model("hosts", "Host").objects.create(
        name="legacy01", endpoint="unix:///var/run/docker.sock"
    )
    old.get_model("policy", "RiskException").objects.create(
        rule_id="CTR-PRIVILEGED",
        host=host,
        reason="the CI runner needs it",
        owner="ops@example.org",
        expires_at=timezone.now() + datetime.timedelta(days=30),
        created_by="maya",
    )
    old.get_model("policy", "RuleOverride").objects.create(
        rule_id="IMG-LATEST-TAG", host=host, action="disable", reason="pinned by digest"
    )

    upgrade = MigrationExecutor(connection)
    upgrade.loader.build_graph()
    upgrade.migrate(upgrade.loader.graph.leaf_nodes())

    exc = RiskException.objects.get()
    assert exc.status == Review.APPROVED and exc.is_active
    assert exc.requested_by is None and exc.approved_by is None and exc.created_by == "maya"
    override = RuleOverride.objects.get()
    assert override.status == Review.APPROVED and override.requested_by is None

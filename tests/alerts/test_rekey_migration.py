"""An install upgrading with regressions open under the old "finding:<id>" keys: the data
migration re-keys them, so the first redeploy after the upgrade mails nothing."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps

from alerts.detect import problem_key
from alerts.models import Event, Regression
from findings.models import Finding
from hosts.models import Host
from lab.smtp import LabSmtp
from tests.alerts.helpers import Scans, privileged
from tests.factories import FindingFactory

pytestmark = pytest.mark.django_db

migration = importlib.import_module("alerts.migrations.0002_regression_problem_keys")


def legacy(host: Host, finding: Finding, **fields: Any) -> Regression:
    regression = Regression.objects.create(
        host=host, kind="dangerous", key=f"finding:{finding.pk}", severity=4, finding=finding
    )
    Regression.objects.filter(pk=regression.pk).update(**fields)
    return regression


def test_open_legacy_regressions_are_rekeyed_and_a_redeploy_stays_silent(
    host: Host, scans: Scans, subscriber: Any, lab_smtp: LabSmtp
) -> None:
    scans.success(host)
    scans.success(host, opened=[privileged("web")])
    # What the code before the new keys left behind.
    Regression.objects.update(key=f"finding:{Finding.objects.get().pk}", details={})
    lab_smtp.wait_for(1)

    migration.rekey(apps, None)

    regression = Regression.objects.get()
    assert regression.key == problem_key("CTR-PRIVILEGED", "container", "web")
    assert regression.details["subject_name"] == "web"
    scans.success(host, opened=[privileged("web")], resolved=[Finding.objects.get()])
    assert Event.objects.count() == 1 and len(lab_smtp.messages) == 1
    assert Regression.objects.open().get().finding == Finding.objects.open().get()

    migration.unkey(apps, None)  # and back, for the code before
    assert Regression.objects.get().key == f"finding:{Finding.objects.open().get().pk}"


def test_closed_regressions_are_left_and_a_clash_keeps_its_old_key(
    host: Host, scans: Scans
) -> None:
    """GIVEN two open regressions for one problem (two containers of one name, as a hostile
    daemon may report) and a closed one
    WHEN the migration runs
    THEN the newest takes the key, the other keeps its old one and still closes when its
    own finding is resolved; the closed one is left alone."""
    scans.success(host)
    a, b, c = (FindingFactory(host=host, **privileged("web")) for _ in range(3))
    old = legacy(host, a)
    legacy(host, b)
    closed = legacy(host, c, closed_at=c.opened_at)

    migration.rekey(apps, None)

    assert Regression.objects.get(pk=old.pk).key == f"finding:{a.pk}"
    assert Regression.objects.get(finding=b).key == problem_key(
        "CTR-PRIVILEGED", "container", "web"
    )
    assert Regression.objects.get(pk=closed.pk).key == f"finding:{c.pk}"

    scans.success(host, resolved=[a])
    assert Regression.objects.get(pk=old.pk).closed_at is not None
    assert Regression.objects.get(finding=b).closed_at is None  # b is still failing

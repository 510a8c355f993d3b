"""Alerts through the real broker and worker: the other alert tests run Celery eagerly.

A scan requested as the "Scan now" button requests it goes over the lab Redis to a Celery
worker, which scans the lab dockerd; the scan's commit hands the regressions to
alerts.tasks.process_events over the broker again, and the worker mails them to the lab
SMTP server. Nothing runs in the test's own call stack.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun, task_prerun
from django.db import connections
from django.utils import timezone

from alerts.models import Notification, Regression
from hosts.models import Host
from lab.daemon import LabDaemon
from lab.smtp import LabSmtp
from posture.celery import app
from scans import services
from scans.models import ScanRun
from tests.alerts.helpers import text_part
from tests.factories import ScanRunFactory

pytestmark = [pytest.mark.celery, pytest.mark.docker, pytest.mark.django_db(transaction=True)]
# A scan of the lab daemon takes seconds; this bounds a stuck worker, not a slow one.
WAIT = 90


@pytest.fixture(autouse=True)
def eager_celery() -> Iterator[None]:
    # Replaces tests/alerts/conftest.py's fixture of that name: tasks go over the broker.
    before = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def worker(broker: str) -> Iterator[list[str]]:
    """A worker on the lab Redis; yields the names of the tasks it ran, as it runs them."""
    ran: list[str] = []

    def before_task(task: Any = None, **_: object) -> None:
        ran.append(task.name)

    def after_task(**_: object) -> None:
        # Each pool thread opens its own database connection: closed after each task so
        # none outlives the test (PostgreSQL refuses to drop a test database still in use).
        connections.close_all()

    task_prerun.connect(before_task, weak=False)
    task_postrun.connect(after_task, weak=False)
    try:
        with start_worker(
            app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=30
        ):
            yield ran
    finally:
        task_prerun.disconnect(before_task)
        task_postrun.disconnect(after_task)


def wait_for(condition: Any, what: str) -> None:
    give_up = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > give_up:
            states = list(ScanRun.objects.values_list("status", "error_detail"))
            pytest.fail(f"no {what} after {WAIT}s; scans: {states}")
        time.sleep(0.25)


def test_a_scan_on_the_worker_mails_its_regressions(
    worker: list[str],
    lab_daemon: LabDaemon,
    lab_samples: dict[str, str],
    lab_smtp: LabSmtp,
    subscriber: Any,
    settings: Any,
) -> None:
    """GIVEN a subscribed user and a host whose earlier picture had no dangerous container
    WHEN a scan is requested and the worker scans the lab daemon (privileged sample)
    THEN the worker, through process_events on the broker, mails the regression over SMTP."""
    settings.POSTURE_ALERTS = {**settings.POSTURE_ALERTS, "RATE_LIMIT_PER_HOUR": 1000}
    host = Host.objects.create(name="lab", endpoint=lab_daemon.unix_url)
    # Scanned before these containers existed: a host's first picture is only a baseline.
    ScanRunFactory(host=host, requested_at=timezone.now() - timedelta(hours=1))

    run, _ = services.request_scan(host, trigger=ScanRun.Trigger.MANUAL)

    wait_for(lambda: ScanRun.objects.get(pk=run.pk).status not in ScanRun.ACTIVE, "finished scan")
    run.refresh_from_db()
    assert run.status == ScanRun.Status.SUCCEEDED, run.error_detail
    # The run is marked done before scan_finished's receiver opens the regressions (the
    # same worker, a moment later): wait for them rather than read in between.
    regressions = Regression.objects.filter(host=host, finding__rule_id="CTR-PRIVILEGED")
    wait_for(regressions.exists, "regression opened")
    privileged = regressions.get()
    sent = Notification.objects.filter(status=Notification.Status.SENT)
    wait_for(lambda: sent.filter(event__regression=privileged).exists(), "mail sent")
    mails = lab_smtp.wait_for(sent.count())
    mail = next(m for m in mails if "CTR-PRIVILEGED on lab-privileged" in m["Subject"])
    assert mail["To"] == "ops@example.org"
    assert "HostConfig.Privileged = true" in text_part(mail)
    assert {"scans.tasks.scan_host", "alerts.tasks.process_events"} <= set(worker)

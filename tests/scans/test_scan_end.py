"""A scan's end and what it sets off (regressions, so alerts) commit together, and a worker
that dies says nothing against the host it was scanning.

Both were found by the 200-kill campaign (docs/RELIABILITY.md): a worker killed between the
commit of a scan's results and the commit of its regressions lost an alert for good, and a
scan, its re-run and its next slot all killed mailed that a healthy host "failed its last 3
scans".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, transaction

from alerts.models import Regression
from findings.models import HostPosture, ScoreSample
from hosts.models import Host
from lab.daemon import LabDaemon
from scans import services
from scans.models import ScanRun
from scans.signals import scan_finished
from scans.transports import ErrorClass, Limits
from tests.scans.test_resilience import killed_worker_left, scan

pytestmark = [pytest.mark.docker, pytest.mark.django_db]
LIMITS = Limits(deadline=20, connect_timeout=2, read_timeout=5)


class WorkerDied(BaseException):
    """What SIGKILL is to the code that was running: nothing after it runs, no handler
    (`except Exception`, send_robust) sees it."""


@pytest.fixture
def host(lab_daemon: LabDaemon, lab_samples: dict[str, str]) -> Host:
    return Host.objects.create(name="lab", endpoint=lab_daemon.unix_url)


@pytest.fixture
def receiver() -> Iterator[list[Any]]:
    """A scan_finished receiver of the test's, run after alerts' own: what it should do."""
    actions: list[Any] = []

    def run(sender: Any, scan: ScanRun, **kwargs: Any) -> None:
        for action in actions:
            action(scan)

    scan_finished.connect(run, dispatch_uid="tests.scan_end")
    try:
        yield actions
    finally:
        scan_finished.disconnect(dispatch_uid="tests.scan_end")


def test_a_worker_dying_while_regressions_are_opened_leaves_the_scan_unfinished(
    host: Host, receiver: list[Any]
) -> None:
    """GIVEN a host scanned once
    WHEN the worker dies inside the scan_finished receivers of the next scan (after alerts'
    regression detection ran)
    THEN nothing of that scan is committed: it is still running (its lease will interrupt
    and re-run it), no score sample, no regression; never a finished scan whose
    regressions were not opened."""
    scan(host)
    samples = ScoreSample.objects.filter(host=host).count()

    def die(scan: ScanRun) -> None:
        assert connection.in_atomic_block  # the scan's end is not committed yet
        raise WorkerDied

    receiver.append(die)
    run, _ = services.request_scan(host, enqueue=False)
    with pytest.raises(WorkerDied):
        services.run_scan(run.pk, LIMITS)

    run.refresh_from_db()
    assert run.status == ScanRun.Status.RUNNING and run.finished_at is None
    assert ScoreSample.objects.filter(host=host).count() == samples
    assert not Regression.objects.filter(host=host, opened_scan=run).exists()


def test_a_receiver_failing_on_the_database_does_not_undo_the_scan(
    host: Host, receiver: list[Any]
) -> None:
    def broken(scan: ScanRun) -> None:
        # In a savepoint of its own, as scans.signals asks of receivers.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")

    receiver.append(broken)
    run = scan(host)

    assert run.status == ScanRun.Status.SUCCEEDED
    assert ScoreSample.objects.filter(host=host, scan=run).exists()
    assert HostPosture.objects.get(host=host).current_scan_id == run.pk


def test_interruptions_do_not_count_toward_the_host_failure_streak(
    host: Host, settings: Any
) -> None:
    """GIVEN a host with a good picture and an alert after 3 failures in a row
    WHEN three of its scans in a row are interrupted (workers killed under them)
    THEN its status shows the interruption, but it has not "failed its last 3 scans": no
    unreachable regression, the streak unchanged. A real failure still counts."""
    settings.POSTURE_ALERTS = {**settings.POSTURE_ALERTS, "FAILURES": 3}
    scan(host)
    for _ in range(3):
        services.interrupt(killed_worker_left(host), rerun=False)

    posture = HostPosture.objects.get(host=host)
    assert posture.last_error_class == ErrorClass.INTERRUPTED
    assert posture.consecutive_failures == 0
    assert not Regression.objects.filter(host=host, kind=Regression.Kind.UNREACHABLE).exists()

    Host.objects.filter(pk=host.pk).update(endpoint="unix:///tmp/pst-nobody-listens.sock")
    host.refresh_from_db()
    failed = scan(host)
    assert failed.status == ScanRun.Status.FAILED
    assert HostPosture.objects.get(host=host).consecutive_failures == 1


def test_the_interrupted_error_class_is_the_one_findings_knows() -> None:
    from findings import store

    assert ErrorClass.INTERRUPTED.value == store.INTERRUPTED

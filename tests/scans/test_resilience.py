"""Scans that survive their workers: leases, re-runs, retries with backoff, one scan per slot.

Scanned against the real lab daemon; a killed worker is simulated by the row it leaves
behind (running, lease expired). tests/system/e2e/test_killed_worker.py kills a real one.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from findings.models import Finding, HostPosture, ScoreSample
from hosts.models import Host
from lab.daemon import LabDaemon
from scans import services
from scans.models import ScanRun
from scans.transports import ErrorClass, Limits

pytestmark = [pytest.mark.docker, pytest.mark.django_db]
LIMITS = Limits(deadline=20, connect_timeout=2, read_timeout=5)


@pytest.fixture
def host(lab_daemon: LabDaemon, lab_samples: dict[str, str]) -> Host:
    return Host.objects.create(name="lab", endpoint=lab_daemon.unix_url)


@pytest.fixture
def fast_retries(settings: Any) -> None:
    settings.POSTURE_SCAN = {**settings.POSTURE_SCAN, "RETRY_BASE": 10, "RETRY_CAP": 60}


def scan(host: Host, **kwargs: Any) -> ScanRun:
    run, created = services.request_scan(host, enqueue=False, **kwargs)
    assert created
    return services.run_scan(run.pk, LIMITS)


def killed_worker_left(host: Host, trigger: str = ScanRun.Trigger.SCHEDULE) -> ScanRun:
    """The row a worker leaves when it is SIGKILLed mid-scan: running, lease run out."""
    run, _ = services.request_scan(host, trigger, enqueue=False)
    started = timezone.now() - timedelta(minutes=5)
    ScanRun.objects.filter(pk=run.pk).update(
        status=ScanRun.Status.RUNNING,
        started_at=started,
        lease_until=timezone.now() - timedelta(seconds=1),
        attempts=1,
    )
    run.refresh_from_db()
    return run


def open_findings(host: Host) -> set[tuple[str, str, str]]:
    rows = Finding.objects.open().filter(host=host)
    return set(rows.values_list("rule_id", "subject_kind", "subject_key"))


def test_retry_delay_grows_exponentially_with_jitter_and_a_cap(fast_retries: None) -> None:
    first = [services.retry_delay(1) for _ in range(200)]
    assert all(5 <= d <= 10 for d in first) and len(set(first)) > 100
    assert all(10 <= services.retry_delay(2) <= 20 for _ in range(50))
    assert all(30 <= services.retry_delay(9) <= 60 for _ in range(50))


def test_claim_takes_a_lease(host: Host) -> None:
    run = scan(host)
    assert run.status == ScanRun.Status.SUCCEEDED
    assert run.attempts == 1
    assert run.started_at is not None and run.lease_until is not None
    grace = run.lease_until - run.started_at
    assert grace == timedelta(seconds=LIMITS.deadline + 60)


def test_transient_failure_is_retried_on_the_same_run_then_recorded(fast_retries: None) -> None:
    """GIVEN a host whose daemon refuses connections (restarting, say)
    WHEN the task runs it with retries, three times as the attempts allow
    THEN the first two put the same run back in the queue without counting a failure,
    and the third records one failure."""
    host = Host.objects.create(name="down", endpoint="unix:///tmp/pst-nobody-listens.sock")
    run, _ = services.request_scan(host, enqueue=False)
    for attempt in (1, 2):
        run = services.run_scan(run.pk, LIMITS, retry=True)
        assert run.status == ScanRun.Status.QUEUED and run.attempts == attempt
        assert f"attempt {attempt} failed" in run.error_detail
        delay = services.pending_retry(run)
        assert delay is not None and 5 * attempt <= delay <= 10 * attempt
        assert not HostPosture.objects.filter(host=host, consecutive_failures__gt=0).exists()
    run = services.run_scan(run.pk, LIMITS, retry=True)
    assert run.status == ScanRun.Status.FAILED and run.attempts == 3
    assert run.error_class == ErrorClass.UNREACHABLE
    assert services.pending_retry(run) is None
    assert HostPosture.objects.get(host=host).consecutive_failures == 1
    assert ScanRun.objects.filter(host=host).count() == 1


def test_failure_a_person_must_fix_is_not_retried() -> None:
    host = Host.objects.create(name="no-creds", endpoint="tcp://127.0.0.1:1")
    run, _ = services.request_scan(host, enqueue=False)
    run = services.run_scan(run.pk, LIMITS, retry=True)
    assert run.status == ScanRun.Status.FAILED and run.attempts == 1
    assert run.error_class == ErrorClass.CONFIGURATION


def test_redelivered_scan_of_a_killed_worker_is_interrupted_and_runs_again(host: Host) -> None:
    """GIVEN a host with a good picture, and a scan whose worker was SIGKILLed
    WHEN the broker redelivers that scan's message (acks_late) to another worker
    THEN the dead scan is marked interrupted, the host is scanned again at once, and its
    findings are the same rows: none lost, none duplicated."""
    first = scan(host)
    before = open_findings(host)
    ids_before = set(Finding.objects.open().filter(host=host).values_list("id", flat=True))
    assert before
    dead = killed_worker_left(host)

    again = services.run_scan(dead.pk, LIMITS, retry=True)

    dead.refresh_from_db()
    assert dead.status == ScanRun.Status.INTERRUPTED
    assert dead.error_class == ErrorClass.INTERRUPTED
    assert again.pk not in (dead.pk, first.pk)
    assert again.trigger == ScanRun.Trigger.RERUN
    assert again.status == ScanRun.Status.SUCCEEDED
    assert open_findings(host) == before
    assert set(Finding.objects.open().filter(host=host).values_list("id", flat=True)) == ids_before
    assert HostPosture.objects.get(host=host).current_scan_id == again.pk
    assert ScoreSample.objects.filter(host=host).count() == 2


def test_scan_still_within_its_lease_is_left_to_its_worker(host: Host) -> None:
    run, _ = services.request_scan(host, enqueue=False)
    ScanRun.objects.filter(pk=run.pk).update(
        status=ScanRun.Status.RUNNING,
        started_at=timezone.now(),
        lease_until=timezone.now() + timedelta(seconds=30),
        attempts=1,
    )
    seen = services.run_scan(run.pk, LIMITS, retry=True)
    assert seen.status == ScanRun.Status.RUNNING
    assert ScanRun.objects.filter(host=host).count() == 1
    # The task looks again when the lease ends, in case that worker is dead.
    delay = services.pending_retry(seen)
    assert delay is not None and 29 <= delay <= 32


def test_dispatch_sweep_reruns_a_killed_scan(
    host: Host, django_capture_on_commit_callbacks: Any
) -> None:
    dead = killed_worker_left(host)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.dispatch_due_scans()
    dead.refresh_from_db()
    assert dead.status == ScanRun.Status.INTERRUPTED
    rerun = ScanRun.objects.active().get(host=host)
    assert rerun.trigger == ScanRun.Trigger.RERUN
    assert len(callbacks) == 1  # the re-run is on its way to a worker


def test_a_rerun_that_dies_too_waits_for_the_next_slot(host: Host) -> None:
    """A host whose data kills workers must not kill them in a loop."""
    killed_worker_left(host, trigger=ScanRun.Trigger.RERUN)
    assert services.expire_stale_scans() == 1
    assert not ScanRun.objects.active().filter(host=host).exists()
    assert HostPosture.objects.get(host=host).last_error_class == ErrorClass.INTERRUPTED


def test_late_results_of_a_worker_presumed_dead_are_dropped(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a worker so starved that its lease ran out while it was collecting
    WHEN the sweep has declared its scan interrupted, and then the worker finishes
    THEN its results are dropped: the host's picture is not written twice."""
    good = scan(host)
    collect = services.collect

    def slow_collect(api: Any, **kwargs: Any) -> Any:
        facts = collect(api, **kwargs)
        running = ScanRun.objects.get(host=host, status=ScanRun.Status.RUNNING)
        services.interrupt(running, rerun=False)
        return facts

    monkeypatch.setattr(services, "collect", slow_collect)
    late = scan(host)
    assert late.status == ScanRun.Status.INTERRUPTED
    assert HostPosture.objects.get(host=host).current_scan_id == good.pk
    assert ScoreSample.objects.filter(host=host).count() == 1


def test_a_schedule_slot_is_filled_once(host: Host, django_capture_on_commit_callbacks) -> None:
    """Even a dispatcher that read next_scan_at before the first one moved it (a second
    beat, a replayed message) cannot queue the same (host, slot) twice."""
    slot = timezone.now() - timedelta(minutes=1)
    Host.objects.filter(pk=host.pk).update(next_scan_at=slot)
    with django_capture_on_commit_callbacks(execute=False):
        assert services.dispatch_due_scans() == 1
    run = ScanRun.objects.get(host=host)
    assert run.cycle == slot
    services.run_scan(run.pk, LIMITS)
    Host.objects.filter(pk=host.pk).update(next_scan_at=slot)  # the stale read
    with django_capture_on_commit_callbacks(execute=False):
        assert services.dispatch_due_scans() == 0
    assert ScanRun.objects.filter(host=host).count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers: PostgreSQL")
def test_concurrent_dispatchers_queue_each_host_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from scans import tasks

    monkeypatch.setattr(tasks.scan_host, "delay", lambda *args: None)
    slot = timezone.now() - timedelta(minutes=1)
    for i in range(30):
        Host.objects.create(name=f"h{i}", endpoint=f"unix:///tmp/pst-none-{i}.sock")
    Host.objects.update(next_scan_at=slot)
    barrier = threading.Barrier(4)
    totals: list[int] = []

    def dispatcher() -> None:
        barrier.wait()
        try:
            totals.append(services.dispatch_due_scans())
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(totals) == 30
    assert ScanRun.objects.count() == 30
    assert set(ScanRun.objects.values_list("cycle", flat=True)) == {slot}

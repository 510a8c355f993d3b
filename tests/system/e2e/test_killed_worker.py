"""A real Celery worker on real Redis is SIGKILLed in the middle of a scan.

Nothing of that scan is written (the picture is stored in one transaction at the end), the
broker redelivers its message (acks_late, visibility timeout) to the next worker, which
marks the dead scan interrupted and scans the host again: no finding lost or duplicated.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from findings.models import Finding, HostPosture, ScoreSample
from hosts.models import Host
from lab.sim_engine import SimEngine, SimSpec
from scans import services
from scans.models import ScanRun
from scans.transports import Limits

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[3]
# Short enough for a test, the same mechanism as production's 120 s + 60 s and 900 s.
DEADLINE, GRACE, VISIBILITY = 10, 1, 10


@pytest.fixture
def slow_host() -> Iterator[str]:
    """A simulated daemon slow enough (120 ms a request) that a scan takes a few seconds."""
    spec = SimSpec(
        hosts=1,
        containers=40,
        images=2,
        latency_ms=120,
        directory=f"/tmp/pst-killtest-{os.getpid()}",
    )
    with SimEngine(spec) as engine:
        yield engine.hosts[0]["url"]
    shutil.rmtree(spec.directory, ignore_errors=True)


def start_worker(broker: str, name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "POSTURE_BROKER_URL": broker,
        # The worker is another process: point it at the test database.
        "POSTURE_DB_NAME": str(connection.settings_dict["NAME"]),
        "POSTURE_SCAN_DEADLINE": str(DEADLINE),
        "POSTURE_SCAN_LEASE_GRACE": str(GRACE),
        "POSTURE_VISIBILITY_TIMEOUT": str(VISIBILITY),
    }
    command = [sys.executable, "-m", "celery", "-A", "posture", "worker", "--pool", "threads"]
    command += ["--concurrency", "2", "--loglevel", "WARNING", "--hostname", f"{name}@%h"]
    command += ["--without-mingle", "--without-gossip", "--without-heartbeat"]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def wait_for_or_explain(
    worker: subprocess.Popen[bytes], victim: ScanRun, condition: Callable[[], bool], *args: Any
) -> None:
    try:
        wait_for(condition, *args)
    except AssertionError:
        victim.refresh_from_db()
        runs = list(ScanRun.objects.filter(host=victim.host).values_list("pk", "status", "trigger"))
        worker.terminate()
        _, err = worker.communicate(timeout=20)
        raise AssertionError(f"{runs}; worker said: {err.decode()[-3000:]}") from None


def open_finding_ids(host: Host) -> set[int]:
    return set(Finding.objects.open().filter(host=host).values_list("id", flat=True))


def test_sigkilled_worker_scan_is_interrupted_and_runs_again(broker: str, slow_host: str) -> None:
    host = Host.objects.create(name="slow", endpoint=slow_host)
    first, _ = services.request_scan(host, enqueue=False)
    first = services.run_scan(first.pk, Limits(deadline=DEADLINE))
    assert first.status == ScanRun.Status.SUCCEEDED, first.error_detail
    findings = open_finding_ids(host)
    assert findings

    workers: list[subprocess.Popen[bytes]] = []
    try:
        workers.append(start_worker(broker, "doomed"))
        victim, _ = services.request_scan(host)  # committed: its message goes to Redis now
        wait_for(
            lambda: ScanRun.objects.filter(pk=victim.pk, status=ScanRun.Status.RUNNING).exists(),
            60,
            "the first worker to start the scan",
        )
        time.sleep(0.5)  # well inside the scan: it takes several seconds
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=10)

        # Nothing half-written: the picture is still the first scan's.
        victim.refresh_from_db()
        assert victim.status == ScanRun.Status.RUNNING
        assert HostPosture.objects.get(host=host).current_scan_id == first.pk
        assert ScoreSample.objects.filter(host=host).count() == 1
        assert open_finding_ids(host) == findings

        workers.append(start_worker(broker, "survivor"))
        wait_for_or_explain(
            workers[1],
            victim,
            lambda: ScanRun.objects.filter(
                host=host, trigger=ScanRun.Trigger.RERUN, status=ScanRun.Status.SUCCEEDED
            ).exists(),
            90,
            "the redelivered scan to be re-run by the second worker",
        )
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
                try:
                    worker.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()

    victim.refresh_from_db()
    assert victim.status == ScanRun.Status.INTERRUPTED
    rerun = ScanRun.objects.get(host=host, trigger=ScanRun.Trigger.RERUN)
    assert HostPosture.objects.get(host=host).current_scan_id == rerun.pk
    assert open_finding_ids(host) == findings
    assert ScanRun.objects.active().filter(host=host).count() == 0

"""Redis stopped in the middle of a scan cycle, then started again with its data lost.

GIVEN a Redis of this test's own (without persistence: a restart loses every message),
one real worker and one real beat on it, and four hosts due at once, more than the worker
takes together (so some scans wait in the queue as messages)
WHEN Redis stops while the first scans run, stays down for OUTAGE seconds (60 in the
documented command, scripts/kill-campaign; 6 in CI) and comes back empty
THEN the same worker and beat processes reconnect by themselves, the queued scans whose
messages were lost are sent again by the dispatcher's sweep (scans.services.
redispatch_lost), every host ends with a succeeded scan of its slot, and no slot ran twice.

A shorter outage runs the same code: the worker's consumer loses its connection and enters
kombu's reconnect loop ("Connection to broker lost", "Trying again in"), the beat's
sends fail and are skipped ("Couldn't apply scheduled task"), and once Redis is back
empty the sweep sends the lost messages again. What the length changes is the number of
turns of the reconnect loop, which `CELERY_BROKER_CONNECTION_MAX_RETRIES = None` leaves
unbounded. The test asserts these log lines, so a CI run proves the paths of a 60 s one.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from hosts.models import Host
from lab.services import LabRedis
from lab.sim_engine import SimEngine, SimSpec
from scans.models import ScanRun
from tests.system.faults.processes import Service, service_env, wait_for

pytestmark = [
    pytest.mark.celery,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="concurrency faults run on PostgreSQL",
    ),
]
OUTAGE = float(os.environ.get("POSTURE_FAULT_OUTAGE", "6"))


def test_broker_outage_and_data_loss(own_redis: LabRedis, tmp_path: Path) -> None:
    spec = SimSpec(hosts=4, containers=30, images=2, latency_ms=60, directory=str(tmp_path / "s"))
    env = service_env(own_redis.url)
    worker, beat = Service("worker", "bw", env, tmp_path), Service("beat", "bb", env, tmp_path)
    with SimEngine(spec) as sim:
        later = timezone.now() + timezone.timedelta(days=1)
        hosts = [
            Host.objects.create(name=f"b{i}", endpoint=h["url"], next_scan_at=later)
            for i, h in enumerate(sim.hosts)
        ]
        pids = (worker.start().process, beat.start().process)
        try:
            start = timezone.now()
            Host.objects.update(next_scan_at=start)
            wait_for(
                lambda: ScanRun.objects.filter(status=ScanRun.Status.RUNNING).exists(),
                60,
                "the first scans to start",
            )
            own_redis.stop()
            outage_began = time.monotonic()
            time.sleep(OUTAGE)
            own_redis.start()  # a fresh process without persistence: every message is gone
            outage = time.monotonic() - outage_began
            wait_for(
                lambda: (
                    ScanRun.objects.filter(status=ScanRun.Status.SUCCEEDED, requested_at__gte=start)
                    .values("host")
                    .distinct()
                    .count()
                    == len(hosts)
                ),
                90,
                "every host's scan after the outage",
                every=0.5,
            )
            alive = worker.process is pids[0] and beat.process is pids[1]
            assert alive and all(p is not None and p.poll() is None for p in pids)
        except AssertionError as exc:
            runs = list(ScanRun.objects.values_list("host__name", "status", "trigger", "attempts"))
            raise AssertionError(f"{exc}\n{runs}\n{worker.tail()}\n{beat.tail()}") from None
        finally:
            worker.stop()
            beat.stop()

    slots = Counter(ScanRun.objects.exclude(cycle=None).values_list("host_id", "cycle"))
    assert set(slots.values()) == {1}, slots
    succeeded = Counter(
        ScanRun.objects.filter(status=ScanRun.Status.SUCCEEDED).values_list("host_id", flat=True)
    )
    assert succeeded == Counter(h.pk for h in hosts), "one succeeded scan per host and slot"
    assert not ScanRun.objects.active().exists()
    # The paths a 60 s outage takes: the worker's reconnect loop, the beat's failed sends,
    # and the lost messages sent again from the database.
    worker_log, beat_log = worker.tail(1_000_000), beat.tail(1_000_000)
    assert "Connection to broker lost" in worker_log and "Trying again in" in worker_log
    assert "Couldn't apply scheduled task dispatch-due-scans" in beat_log, beat_log[-2000:]
    assert "sent again the lost messages" in worker_log, worker_log[-3000:]
    print(f"\nbroker outage: {outage:.0f} s down, {len(hosts)} hosts, slots {dict(slots)}")

"""Two beats started by mistake, and a worker whose clock is five minutes behind.

GIVEN a fleet that gains a misconfigured container on every host each cycle, two real
beats dispatching every second, one worker on the machine's clock and one whose clock
is five minutes behind (tests/system/faults/skewed.py says why not libfaketime)
WHEN two cycles run
THEN each host is scanned once per slot, no scan is judged dead because of the other
worker's clock (leases are read and written on the database's clock), and each change
gives exactly one mail.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from alerts.models import Event, Regression
from lab.smtp import LabSmtp
from scans.models import ScanRun
from tests.system.faults.campaign import HOSTS, Fleet, duplicates, make_team, run_cycles
from tests.system.faults.processes import Service, service_env

pytestmark = [
    pytest.mark.celery,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="concurrency faults run on PostgreSQL",
    ),
]
SKEW = -300.0


def test_two_beats_and_a_skewed_worker(broker: str, lab_smtp: LabSmtp, tmp_path: Path) -> None:
    env = service_env(broker, lab_smtp.port)
    services = [
        Service("worker", "on-time", env, tmp_path),
        Service("worker", "late", env, tmp_path, skew=SKEW),
        Service("beat", "beat-1", env, tmp_path),
        Service("beat", "beat-2", env, tmp_path),
    ]
    fleet = Fleet(tmp_path / "sim")
    hosts = make_team("ref", HOSTS)
    for service in services:
        service.start()
    try:
        figures = run_cycles("ref", hosts, fleet, services, cycles=2, kills=0, seed=1)
    except AssertionError as exc:
        logs = "\n".join(f"== {s.name}\n{s.tail(1500)}" for s in services)
        raise AssertionError(f"{exc}\n{logs}") from None
    finally:
        for service in services:
            service.stop()
        fleet.remove()

    assert duplicates("ref") == []
    late_log = services[1].tail(1_000_000)
    assert "succeeded in" in late_log, "the skewed worker took no task: the test proves nothing"
    assert figures.interrupted == 0, ScanRun.objects.filter(status=ScanRun.Status.INTERRUPTED)
    # Every host's new container is a change (a failing finding, sometimes a score drop too);
    # each change is one event, and each event one mail: none doubled by the second beat.
    assert Regression.objects.filter(host__labels__team="ref").count() >= HOSTS
    events = Event.objects.filter(regression__host__labels__team="ref").count()
    alerts = [m for _, m in lab_smtp.messages if "report" not in str(m["Subject"]).lower()]
    assert len(alerts) == events, [str(m["Subject"]) for m in alerts]

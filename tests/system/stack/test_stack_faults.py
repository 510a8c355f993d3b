"""The fault tests, pointed at the production shape: docker-compose.yml's own containers,
restart policies, healthchecks and networks (the `production_stack` fixture).

tests/system/faults proves each fault's code paths with many kills and counted mails, on
processes the suite starts; here the same faults hit the stack an operator runs, where
what brings a killed worker back is Docker's restart policy and what a service reaches
is a name on a compose network:

* a worker container killed in the middle of a scan, as the kernel's OOM killer kills it
  (SIGKILL from outside to its main process): Docker restarts it by its policy, the scan
  is interrupted at its lease and run again, one picture, one score sample;
* Redis restarted with its data lost (the compose file keeps none) while a scan waits in
  it: the queued scan is sent again from the database and runs once; the worker and beat
  containers reconnect by themselves (Docker did not restart them);
* PostgreSQL stopped during a scan: web answers 503 with its page, /readyz says which
  dependency is down, /healthz stays up (so Docker does not restart web in a loop); once
  it is back, the scan ends by itself and nothing is half-written.

A scan of the lab daemon lasts well under a second: the tests catch one in flight behind
the stack's gate (tests/system/stack/gate.py), which holds the worker's connection until
the test releases it.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from lab.process import wait_until
from tests.system.faults.outage import assert_database_down_answers
from tests.system.stack.fixture import needs_stack
from tests.system.stack.stack import Stack

pytestmark = [needs_stack, pytest.mark.docker]

# Runs inside web's Django: polls the host's runs until `until` holds (or the time is
# up), then prints them with the host's score samples and current picture.
RUNS = """
import json, time
from findings.models import HostPosture, ScoreSample
from scans.models import ScanRun

def runs():
    return list(ScanRun.objects.filter(host__name={host!r}).order_by("pk").values(
        "pk", "status", "trigger", "error_class", "error_detail"))

deadline = time.monotonic() + {timeout}
while True:
    rs = runs()
    active = [r for r in rs if r["status"] in ScanRun.ACTIVE]
    if ({until}) or time.monotonic() > deadline:
        break
    time.sleep(0.3)
print(json.dumps(dict(
    runs=rs,
    samples=ScoreSample.objects.filter(host__name={host!r}).count(),
    current=HostPosture.objects.filter(host__name={host!r}).values_list(
        "current_scan_id", flat=True).first(),
)))
"""
RUNNING = 'any(r["status"] == "running" for r in rs)'
SETTLED = 'not active and any(r["status"] == "succeeded" for r in rs)'


def _runs(stack: Stack, host: str, until: str, timeout: float) -> dict[str, Any]:
    return stack.shell(RUNS.format(host=host, until=until, timeout=timeout))  # type: ignore[no-any-return]


def _caught_in_flight(stack: Stack, host: str) -> None:
    """Add `host` through the gate, held: its first scan runs and waits inside a read."""
    assert stack.gate is not None
    stack.gate.hold()
    stack.add_host(stack.login(), host, stack.gate_port)
    found = _runs(stack, host, RUNNING, 60)
    assert any(r["status"] == "running" for r in found["runs"]), found
    assert wait_until(lambda: stack.gate is not None and stack.gate.waiting() > 0, timeout=30)


def _one_picture(found: dict[str, Any]) -> int:
    """Nothing active, every succeeded run one score sample, the picture the last one's."""
    runs = found["runs"]
    succeeded = [r["pk"] for r in runs if r["status"] == "succeeded"]
    assert succeeded and not [r for r in runs if r["status"] in ("queued", "running")], runs
    assert found["samples"] == len(succeeded), found
    assert found["current"] == succeeded[-1], found
    return len(runs)


def _state(stack: Stack, service: str) -> tuple[int, str]:
    (container,) = stack.inspect(service)
    return int(container["RestartCount"]), str(container["State"]["StartedAt"])


def test_a_worker_killed_mid_scan_is_restarted_by_docker_and_the_scan_run_again(
    production_stack: Stack,
) -> None:
    stack, host = production_stack, "stack-oom"
    assert stack.gate is not None
    try:
        _caught_in_flight(stack, host)
        restarts, _ = _state(stack, "worker")
        (worker,) = stack.inspect("worker")
        # What the OOM killer does: SIGKILL to the container's main process, from outside.
        os.kill(int(worker["State"]["Pid"]), signal.SIGKILL)
        assert wait_until(lambda: _state(stack, "worker")[0] == restarts + 1, timeout=60), (
            "Docker did not restart the killed worker (restart: on-failure)"
        )
    finally:
        stack.gate.release()
    # The lease (30 s in the stack) runs out; beat's next dispatch interrupts the scan and
    # queues its one re-run, which the restarted worker takes.
    found = _runs(stack, host, SETTLED, 120)
    first, *rest = found["runs"]
    assert first["status"] == "interrupted" and first["error_class"] == "interrupted", found
    assert [r["trigger"] for r in rest] == ["rerun"], found
    _one_picture(found)


def test_redis_restarted_empty_loses_no_queued_scan_and_nothing_runs_twice(
    production_stack: Stack,
) -> None:
    stack, host = production_stack, "stack-broker"
    # A scan waits in Redis: the worker is stopped when the host is added.
    stack.compose("stop", "-t", "10", "worker")
    try:
        stack.add_host(stack.login(), host, stack.target_port)
        queued = _runs(stack, host, "rs", 10)["runs"]
        assert [r["status"] for r in queued] == ["queued"], queued
        beat_before = _state(stack, "beat")
        # Redis restarted: the compose file keeps no data (no RDB, no AOF), the message is
        # gone. While it is down, web's readiness says so.
        stack.compose("stop", "-t", "5", "redis")
        ready = stack.session().get(f"{stack.url}/readyz", timeout=30)
        assert (ready.status_code, ready.json()) == (503, {"database": "ok", "broker": "down"})
        stack.compose("start", "redis")
        assert wait_until(lambda: stack.health("redis") == "healthy", timeout=60)
    finally:
        stack.compose("start", "worker")
    found = _runs(stack, host, SETTLED, 120)
    # The same run, sent again from the database once the queue was found empty: no second.
    assert [(r["pk"], r["status"]) for r in found["runs"]] == [(queued[0]["pk"], "succeeded")]
    _one_picture(found)
    assert "sent again the lost messages" in stack.logs("worker", tail=2000)
    # Beat carried on by itself (its dispatch ticks reached the worker), not restarted.
    assert _state(stack, "beat") == beat_before

    # Now with every process up while Redis restarts: they all reconnect by themselves,
    # and the next slot is dispatched by beat and scanned by the worker.
    worker_before = _state(stack, "worker")
    stack.compose("restart", "-t", "5", "redis")
    assert wait_until(lambda: stack.health("redis") == "healthy", timeout=60)
    stack.shell(
        "from django.utils import timezone; from hosts.models import Host; "
        f"Host.objects.filter(name={host!r}).update(next_scan_at=timezone.now()); print(1)"
    )
    found = _runs(stack, host, SETTLED + ' and any(r["trigger"] == "schedule" for r in rs)', 120)
    assert [r["status"] for r in found["runs"]] == ["succeeded", "succeeded"], found
    _one_picture(found)
    assert (_state(stack, "worker"), _state(stack, "beat")) == (worker_before, beat_before)


def test_postgres_stopped_mid_scan_web_says_so_and_the_scan_ends_by_itself(
    production_stack: Stack,
) -> None:
    stack, host = production_stack, "stack-db"
    assert stack.gate is not None
    session = stack.login()
    web_before = _state(stack, "web")
    try:
        _caught_in_flight(stack, host)
        stack.compose("stop", "-t", "10", "postgres")
        # The scan's reads go on and end while the database is away: it has results to
        # store and nowhere to store them.
        stack.gate.release()
        page = session.get(f"{stack.url}/", timeout=30)
        ready = stack.session().get(f"{stack.url}/readyz", timeout=30)
        alive = stack.session().get(f"{stack.url}/healthz", timeout=30)
        time.sleep(3)
    finally:
        stack.gate.release()
        stack.compose("start", "postgres")
    assert_database_down_answers(page, ready, alive)
    assert wait_until(lambda: stack.health("postgres") == "healthy", timeout=60)

    found = _runs(stack, host, SETTLED, 120)
    first, *rest = found["runs"]
    # Completed once reconnected, or interrupted at its lease and run again, or (on a
    # machine slow enough for the scan's deadline to pass meanwhile) a classified error
    # the schedule retries: never a half-written picture, never an "internal error".
    if first["status"] == "failed":
        assert first["error_class"] not in ("", "internal"), found
    else:
        assert first["status"] in ("succeeded", "interrupted"), found
    assert all(r["status"] == "succeeded" for r in rest) and len(rest) <= 1, found
    _one_picture(found)
    assert stack.session().get(f"{stack.url}/readyz", timeout=30).status_code == 200
    # web's liveness held throughout: Docker left it alone.
    assert _state(stack, "web") == web_before and stack.health("web") == "healthy"

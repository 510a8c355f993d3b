"""The host checks beside the Engine API reads (scans.hostchecks), in whole scans of the lab
daemon over the lab's real sshd: they overlap, a hanging host check still ends within the
scan's deadline without costing the API part, and an API failure ends them at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from findings.models import HostPosture
from lab.daemon import LabDaemon
from lab.sshd import LabSshd
from scans import hostaccess, services, transports
from scans.models import ScanRun
from scans.transports import ErrorClass, Limits
from scans.transports.base import DockerAPI
from scans.transports.hostshell import MasterShell, first_round
from tests.scans.hostaccess.test_scan import ssh_host
from tests.scans.test_openssh import ssh_children

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.docker,
    pytest.mark.ssh,
    # Threads and processes, not queries: what these prove holds whatever the database.
    pytest.mark.skipif(connection.vendor == "postgresql", reason="SQLite run only"),
]


@pytest.fixture(autouse=True)
def _openssh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(transports, "SSH_CLIENT", "openssh")
    # The master writes first_round() ahead (cached): the tests' scripts must not stay cached.
    first_round.cache_clear()
    yield
    first_round.cache_clear()


def host_script(monkeypatch: pytest.MonkeyPatch, before: str) -> None:
    """The first round of the host checks (the one with the system part) runs `before` first
    on the host."""
    build = hostaccess.build_script

    def slow(plan: hostaccess.Plan) -> str:
        return (before + "\n" if plan.system else "") + build(plan)

    monkeypatch.setattr(hostaccess, "build_script", slow)


def scanned(host: Any, limits: Limits) -> tuple[ScanRun, float]:
    run, _ = services.request_scan(host, enqueue=False)
    started = time.monotonic()
    run = services.run_scan(run.pk, limits)
    return run, time.monotonic() - started


def test_the_host_checks_run_while_the_engine_api_is_read(
    lab_daemon: LabDaemon, lab_sshd: LabSshd, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a host whose checks' first round takes two seconds
    WHEN it is scanned over SSH
    THEN the Engine API is read while the first round runs on the host (not after it), and
    the host rules are decided from the complete collection."""
    host_script(monkeypatch, "sleep 2")
    events: list[tuple[float, str]] = []
    get_json, run_round = DockerAPI.get_json, MasterShell.run

    def logged_get(self: DockerAPI, path: str, *args: Any, **kwargs: Any) -> Any:
        events.append((time.monotonic(), f"api {path}"))
        return get_json(self, path, *args, **kwargs)

    def logged_round(self: MasterShell, script: str, cap: int) -> tuple[bytes, str]:
        events.append((time.monotonic(), "host round"))
        try:
            return run_round(self, script, cap)
        finally:
            events.append((time.monotonic(), "host answer"))

    monkeypatch.setattr(DockerAPI, "get_json", logged_get)
    monkeypatch.setattr(MasterShell, "run", logged_round)

    run, _ = scanned(ssh_host(lab_sshd, lab_daemon), Limits(deadline=60, connect_timeout=5))

    assert run.status == ScanRun.Status.SUCCEEDED, run.error_detail
    order = [what for _, what in sorted(events)]
    first, answered = order.index("host round"), order.index("host answer")
    during = order[first:answered]
    assert "api /info" in during and "api /containers/json" in during, order
    summary = HostPosture.objects.get(host__name="over-ssh").rule_summary
    assert summary["DMN-IPTABLES"]["fail"] == 1  # decided from the host's dockerd argv


def test_a_hanging_host_check_ends_within_the_deadline(
    lab_daemon: LabDaemon, lab_sshd: LabSshd, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a host whose checks' script never answers
    WHEN it is scanned over SSH with a 6-second deadline
    THEN the scan ends within the deadline (and a grace for closing), its Engine API part
    stands, the host rules say why they are unknown, and nothing is left running."""
    host_script(monkeypatch, "sleep 120")
    threads = set(threading.enumerate())

    run, took = scanned(
        ssh_host(lab_sshd, lab_daemon, name="hangs"), Limits(deadline=6, connect_timeout=5)
    )

    assert run.status == ScanRun.Status.SUCCEEDED, run.error_detail
    assert took < 6 + 5, took
    summary = HostPosture.objects.get(host__name="hangs").rule_summary
    live_restore = summary["DMN-LIVE-RESTORE"]  # an API rule, decided as before
    assert live_restore["pass"] + live_restore["fail"] == 1
    entry = summary["DMN-FILE-SERVICE-MODE"]
    assert entry["causes"] == {"data_missing": 1}
    reason = entry["reasons"][0]
    assert "incomplete" in reason and ("timed out" in reason or "budget" in reason), reason
    assert not ssh_children()
    assert not [t for t in set(threading.enumerate()) - threads if t.name.startswith("host-")]


def test_a_failed_api_read_ends_the_host_checks_at_once(
    lab_daemon: LabDaemon, lab_sshd: LabSshd, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a host whose checks' script hangs, and an Engine API read that fails
    WHEN it is scanned over SSH with a 60-second deadline
    THEN the scan fails at once with the API's own error (not a timeout, not waiting for
    the host checks), and nothing is left running."""
    host_script(monkeypatch, "sleep 120")

    def refused(self: DockerAPI, path: str, *args: Any, **kwargs: Any) -> Any:
        raise transports.ScanError(ErrorClass.DAEMON_ERROR, "500 from the daemon (test)")

    monkeypatch.setattr(DockerAPI, "get_json", refused)
    threads = set(threading.enumerate())

    run, took = scanned(
        ssh_host(lab_sshd, lab_daemon, name="api-fails"), Limits(deadline=60, connect_timeout=5)
    )

    assert run.status == ScanRun.Status.FAILED
    assert run.error_class == ErrorClass.DAEMON_ERROR, run.error_detail
    assert took < 15, took
    assert not ssh_children()
    assert not [t for t in set(threading.enumerate()) - threads if t.name.startswith("host-")]

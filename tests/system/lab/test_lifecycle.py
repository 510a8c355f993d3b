"""The start-or-reuse lifecycle every process-backed lab service shares (lab.process.LabProcess).

Redis stands in for the others: it starts in milliseconds, and the lifecycle is the same code
for dockerd, Podman, sshd, the fake hosts and PostgreSQL.
"""

from __future__ import annotations

import os
import socket

import pytest

from lab.process import LabError, pid_alive, running, write_state
from lab.services import LabRedis
from lab.sshd import LabSshd


@pytest.fixture
def fresh_redis(request: pytest.FixtureRequest) -> LabRedis:
    # Named after the test, so each starts from nothing an earlier run left.
    name = f"test-life-{request.node.name.removeprefix('test_')[:14]}"
    LabRedis(name).stop()
    return LabRedis(name)


def test_a_started_service_is_stopped_at_the_end(
    fresh_redis: LabRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POSTURE_LAB_KEEP", raising=False)
    with running(fresh_redis) as service:
        assert not service.reused
        pid = service.pid
        assert pid is not None and service.ping()
    assert not pid_alive(pid)
    assert LabRedis(service.name).pid is None


def test_an_instance_an_earlier_run_left_is_adopted_and_left_running(
    fresh_redis: LabRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POSTURE_LAB_KEEP", raising=False)
    earlier = fresh_redis.start()
    try:
        with running(LabRedis(earlier.name)) as again:
            assert again.reused
            assert (again.port, again.pid) == (earlier.port, earlier.pid)
        assert earlier.ping()
    finally:
        earlier.stop()


def test_keep_leaves_a_started_instance_for_the_next_run(
    fresh_redis: LabRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSTURE_LAB_KEEP", "1")
    try:
        with running(fresh_redis) as service:
            assert not service.reused
        assert service.ping()
        assert LabRedis(service.name).start().reused
    finally:
        fresh_redis.stop()


def test_a_stale_pidfile_is_not_adopted(fresh_redis: LabRedis) -> None:
    """GIVEN state and a pidfile naming a live process that is not the service (a reused pid)
    WHEN the service starts
    THEN it starts a new instance rather than adopting that process."""
    fresh_redis.root.mkdir(parents=True, exist_ok=True)
    write_state(fresh_redis.state_path, {"port": 6})
    fresh_redis.pidfile.write_text(f"{os.getpid()}\n")
    try:
        assert not fresh_redis.start().reused
        assert fresh_redis.pid not in (None, os.getpid())
    finally:
        fresh_redis.stop()


def test_an_instance_that_never_answers_is_reported_and_cleared(fresh_redis: LabRedis) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        service = LabRedis(fresh_redis.name, port=taken.getsockname()[1], start_timeout=5)
        with pytest.raises(LabError, match="log tail"):
            service.start()
    assert service.pid is None


@pytest.mark.ssh
def test_other_settings_replace_the_running_instance() -> None:
    name = "test-life-ssh"
    LabSshd(name).stop()
    first_pid = LabSshd(name).start().pid
    try:
        refusing = LabSshd(name, streamlocal_forwarding=False).start()
        assert not refusing.reused
        assert first_pid is not None and not pid_alive(first_pid)
        assert "AllowStreamLocalForwarding no" in refusing.config_path.read_text()
        assert LabSshd(name, streamlocal_forwarding=False).start().reused
    finally:
        LabSshd(name).stop()

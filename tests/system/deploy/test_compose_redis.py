"""The Redis of docker-compose.yml, run as compose runs it (its command and its health
check, with /run/secrets pointing at temporary files) on this machine's redis-server:
without the password nothing answers, the health check passes only with it, and the
password shows on no command line."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

ROOT = Path(__file__).resolve().parents[3]
SERVICE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"][
    "redis"
]

pytestmark = pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_run(text: str, secrets_dir: Path, port: int) -> str:
    """Compose's text as the container's shell gets it, on loopback and a free port."""
    return (
        text.replace("$$", "$")
        .replace("/run/secrets/", f"{secrets_dir}/")
        .replace("--bind 0.0.0.0", f"--bind 127.0.0.1 --port {port}")
        .replace("redis-cli ", f"redis-cli -p {port} ")
    )


class Started:
    def __init__(self, process: subprocess.Popen[bytes], port: int, password: str) -> None:
        self.process, self.port, self.password = process, port, password


@pytest.fixture
def compose_redis(tmp_path: Path) -> Iterator[Started]:
    password = secrets.token_hex(32)
    (tmp_path / "redis_password").write_text(password + "\n")
    port = _free_port()
    assert SERVICE["command"][:2] == ["sh", "-c"]
    script = _as_run(SERVICE["command"][2], tmp_path, port)
    process = subprocess.Popen(["sh", "-c", script], cwd=tmp_path, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "no redis"
                time.sleep(0.05)
        yield Started(process, port, password)
    finally:
        process.terminate()
        process.wait(timeout=10)


def _healthcheck(started: Started, secrets_dir: Path) -> int:
    kind, command = SERVICE["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    return subprocess.run(["sh", "-c", _as_run(command, secrets_dir, started.port)]).returncode


def test_nothing_answers_without_the_password(compose_redis: Started) -> None:
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=compose_redis.port).ping()
    url = f"redis://:{compose_redis.password}@127.0.0.1:{compose_redis.port}/0"
    assert redis.Redis.from_url(url).ping()


def test_the_health_check_passes_with_the_secret_only(
    compose_redis: Started, tmp_path: Path
) -> None:
    assert _healthcheck(compose_redis, tmp_path) == 0
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "redis_password").write_text("not-the-password\n")
    assert _healthcheck(compose_redis, wrong) != 0


def test_the_password_is_on_no_command_line(compose_redis: Started) -> None:
    # exec: redis-server replaced the shell, so this pid is the server itself.
    cmdline = Path(f"/proc/{compose_redis.process.pid}/cmdline").read_bytes()
    assert b"redis-server" in cmdline
    assert compose_redis.password.encode() not in cmdline

"""Real Celery workers and beats as subprocesses, for the fault tests: started with the
test database and short leases, SIGKILLed and started again by the tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.test import override_settings

ROOT = Path(__file__).resolve().parents[3]
# The production mechanism with short numbers (120 s deadline + 60 s grace, 900 s
# visibility): the settings' minimums, so a killed scan is noticed within seconds.
DEADLINE, GRACE, VISIBILITY = 5, 1, 10
# A campaign mails more than a person's hourly limit; the limit is not under test.
RATE_LIMIT = 100000


def service_env(broker: str, smtp_port: int | None = None, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "POSTURE_BROKER_URL": broker,
        # Another process: point it at this test's database (PostgreSQL: same cluster).
        "POSTURE_DB_NAME": str(connection.settings_dict["NAME"]),
        "POSTURE_SCAN_DEADLINE": str(DEADLINE),
        "POSTURE_SCAN_LEASE_GRACE": str(GRACE),
        "POSTURE_VISIBILITY_TIMEOUT": str(VISIBILITY),
        "POSTURE_DISPATCH_EVERY": "1",
        "POSTURE_ALERTS_RATE_LIMIT": str(RATE_LIMIT),
    }
    if smtp_port is not None:
        env |= {
            "POSTURE_SMTP_HOST": "127.0.0.1",
            "POSTURE_SMTP_PORT": str(smtp_port),
            "POSTURE_SMTP_STARTTLS": "0",
        }
    return env | extra


class Service:
    """One worker or beat process that can be killed and started again."""

    def __init__(
        self, kind: str, name: str, env: dict[str, str], workdir: Path, skew: float = 0.0
    ) -> None:
        self.kind, self.name, self.env, self.workdir = kind, name, env, workdir
        self.skew = skew  # seconds added to the clock Posture reads (tests.system.faults.skewed)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.log = workdir / f"{name}.log"

    def command(self) -> list[str]:
        runner = ["tests.system.faults.skewed", str(self.skew)] if self.skew else ["celery"]
        base = [sys.executable, "-m", *runner, "-A", "posture", self.kind]
        base += ["--loglevel", "INFO"]
        if self.kind == "beat":
            return [*base, "--schedule", str(self.workdir / f"{self.name}-schedule")]
        return [
            *base,
            *("--pool", "threads", "--concurrency", "2", "--hostname", f"{self.name}@%h"),
            *("--without-mingle", "--without-gossip", "--without-heartbeat"),
        ]

    def start(self) -> Service:
        self.starts += 1
        with self.log.open("ab") as log:
            log.write(f"--- start {self.starts} at {time.time():.3f}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.command(), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def up(self) -> bool:
        """Started and ready: a worker consuming, a beat ticking. A kill before that would
        test Celery's start-up, over and over on a loaded machine, not Posture."""
        if self.process is None or self.process.poll() is not None or not self.log.exists():
            return False
        text = self.log.read_text(errors="replace")
        since = text.rsplit(f"--- start {self.starts} at", 1)[-1]
        return ("ready." in since) if self.kind == "worker" else ("Scheduler:" in since)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@contextmanager
def as_the_services() -> Iterator[None]:
    """The test process's settings where they differ from service_env's, for the sweeps
    the test runs itself in a worker's stead. (The first 100-kill runs failed on this: the
    sweep fanned out the events killed workers had left with the suite's default limit of
    20 mails an hour, and held two alerts for a digest that the workers had sent.)"""
    with override_settings(
        POSTURE_ALERTS={**settings.POSTURE_ALERTS, "RATE_LIMIT_PER_HOUR": RATE_LIMIT}
    ):
        yield


def wait_for(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")

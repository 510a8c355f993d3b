"""End to end on real parts: a host is added, beat finds it due, a Celery worker on Redis
scans a real dockerd, and the score appears on the fleet page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from django.urls import reverse
from django.utils import timezone

from findings.models import HostPosture
from hosts.models import Host
from lab.daemon import LabDaemon
from posture.celery import app
from scans.models import ScanRun

pytestmark = [pytest.mark.celery, pytest.mark.docker, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[3]


def test_beat_dispatches_worker_scans_page_shows_score(
    broker: str,
    lab_daemon: LabDaemon,
    lab_samples: dict[str, str],
    admin_client,
    tmp_path: Path,
) -> None:
    host = Host.objects.create(
        name="lab",
        endpoint=lab_daemon.unix_url,
        labels={"env": "test"},
        next_scan_at=timezone.now(),
    )
    env = {**os.environ, "POSTURE_BROKER_URL": broker, "POSTURE_DISPATCH_EVERY": "1"}
    beat = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "posture",
            "beat",
            "--loglevel",
            "WARNING",
            "--schedule",
            str(tmp_path / "beat-schedule"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if ScanRun.objects.filter(host=host, status=ScanRun.Status.SUCCEEDED).exists():
                    break
                time.sleep(0.5)
    finally:
        beat.terminate()
        _, beat_err = beat.communicate(timeout=20)

    scan = ScanRun.objects.filter(host=host).first()
    assert scan is not None, f"beat never dispatched: {beat_err.decode()[-2000:]}"
    assert scan.status == ScanRun.Status.SUCCEEDED, (scan.status, scan.error_detail)
    assert scan.trigger == ScanRun.Trigger.SCHEDULE
    posture = HostPosture.objects.get(host=host)
    assert posture.score is not None

    page = admin_client.get("/").content.decode()
    row = re.search(rf'<tr id="host-row-{host.pk}".*?</tr>', page, re.DOTALL)
    assert row, "the host has no row on the fleet page"
    assert f'href="{reverse("host-detail", args=["lab"])}">lab</a>' in row[0]
    # The score the worker's scan stored, in the host's own row: "—" until a scan succeeds.
    assert f'<span class="score">{posture.score}</span>' in row[0]
    host.refresh_from_db()
    assert host.next_scan_at > timezone.now()

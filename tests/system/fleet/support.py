"""Helpers shared by the fleet tests: wait for a scan wave (members become hosts through
tests.factories.HostFactory.for_lab_member)."""

from __future__ import annotations

import time

import pytest

from scans.models import ScanRun


def wait_for_scans(expected: int, timeout: float) -> float:
    """Seconds until `expected` scans exist and none is queued or running; fails past timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if ScanRun.objects.count() >= expected and not ScanRun.objects.active().exists():
            return time.monotonic() - started
        time.sleep(0.25)
    states = list(ScanRun.objects.values_list("host__name", "status"))
    pytest.fail(f"scans not finished after {timeout:.0f}s: {states}")

"""Helpers shared by the fleet tests: register a member as a host, wait for a scan wave."""

from __future__ import annotations

import time

import pytest

from hosts.models import Host
from lab.fleet import FleetHost
from scans.models import ScanRun


def register(member: FleetHost) -> Host:
    host = Host(
        name=member.name,
        endpoint=member.endpoint,
        labels={"fleet": "lab", "transport": member.member.transport},
        tls_ca_cert=member.ca_cert,
        tls_client_cert=member.client_cert,
        ssh_host_key=member.ssh_host_key,
    )
    host.set_tls_client_key(member.client_key)
    host.set_ssh_private_key(member.ssh_private_key)
    # The same validation as the host form: the lab's endpoints are ones a user could type.
    host.full_clean()
    host.save()
    return host


def wait_for_scans(expected: int, timeout: float) -> float:
    """Seconds until `expected` scans exist and none is queued or running; fails past timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if ScanRun.objects.count() >= expected and not ScanRun.objects.active().exists():
            return time.monotonic() - started
        time.sleep(0.25)
    states = list(ScanRun.objects.values_list("host__name", "status"))
    pytest.fail(f"scans not finished after {timeout:.0f}s: {states}")

"""What scans does when another app asks: connected in ScansConfig.ready."""

from __future__ import annotations

from typing import Any

from hosts.models import Host
from scans.models import ScanRun
from scans.services import request_scan


def on_rescan_requested(sender: Any, hosts: list[Host], **kwargs: Any) -> int:
    """policy.signals.rescan_requested: a risk exception was created, revoked or expired."""
    queued = 0
    for host in hosts:
        _, created = request_scan(host, ScanRun.Trigger.EXCEPTION)
        queued += int(created)
    return queued


def on_vulnerabilities_changed(sender: Any, hosts: list[Host], **kwargs: Any) -> int:
    """vulns.signals.vulnerabilities_changed: new vulnerability data changed what some
    images carry. The rescan reuses every inventory (nothing is read again) and redoes the
    verdicts, so regression alerts fire on data changes too."""
    queued = 0
    for host in hosts:
        _, created = request_scan(host, ScanRun.Trigger.SCHEDULE)
        queued += int(created)
    return queued

"""Seams for other apps. Policy sits below scans (a scan applies the policy), so when a
decision changes what a host's picture should say, policy asks for rescans through this
signal instead of importing scans; scans connects it in ScansConfig.ready.

`rescan_requested` is sent with `hosts` (enabled hosts, in name order) inside the
transaction that changed the decision; each receiver returns how many scans it queued.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.dispatch import Signal

rescan_requested = Signal()


def request_rescan(hosts: Iterable[Any], sender: type) -> int:
    """Ask for a scan of each enabled host (a paused host keeps its picture until it is
    scanned again); returns how many were queued (a host with a scan already queued keeps
    that one)."""
    enabled = [host for host in hosts if host.enabled]
    if not enabled:
        return 0
    queued = 0
    for _receiver, result in rescan_requested.send(sender=sender, hosts=enabled):
        answer: Any = result  # django-stubs types receivers' answers as str | None
        queued += answer if isinstance(answer, int) else 0
    return queued

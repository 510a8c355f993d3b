"""Seams for the apps above. vulns sits below scans: when the vulnerabilities of images
change without any host being read (new vulnerability data matched again, a triage decision
made or revoked), the hosts that run those images need their verdicts redone, and vulns
asks for that through these signals; scans connects them in ScansConfig.ready.

Both are sent with `hosts` (Host objects); receivers return how many scans they queued.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.dispatch import Signal

# Matching against new vulnerability data changed some images' vulnerabilities.
vulnerabilities_changed = Signal()
# A triage decision was made or revoked (vulns.views).
triage_changed = Signal()


def notify(signal: Signal, hosts: Iterable[Any], sender: type) -> int:
    enabled = [host for host in hosts if host.enabled]
    if not enabled:
        return 0
    queued = 0
    for _receiver, result in signal.send(sender=sender, hosts=enabled):
        answer: Any = result
        queued += answer if isinstance(answer, int) else 0
    return queued

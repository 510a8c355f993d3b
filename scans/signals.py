"""Seams for other apps. `scan_finished` is sent once per finished scan (succeeded, failed
or interrupted), after its results are committed, with `scan` (a ScanRun). Receivers run in
the worker: they must be quick and must not raise into the scan (sent with send_robust)."""

from __future__ import annotations

import logging

from django.dispatch import Signal

log = logging.getLogger(__name__)

scan_finished = Signal()


def notify_finished(scan: object) -> None:
    for receiver, result in scan_finished.send_robust(sender=type(scan), scan=scan):
        if isinstance(result, Exception):
            log.error("scan_finished receiver %r failed: %r", receiver, result)

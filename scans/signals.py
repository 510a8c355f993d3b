"""Seams for other apps. `scan_finished` is sent once per finished scan (succeeded, failed
or interrupted), with `scan` (a ScanRun), inside the transaction that writes its end: what a
receiver records commits with the scan's results or not at all (a worker killed between two
commits would lose it). Receivers run in the worker: they must be quick, must not raise into
the scan (sent with send_robust), and write inside a savepoint of their own
(`transaction.atomic()`), so that a database error of theirs rolls back their writes only;
work for later goes through `transaction.on_commit`."""

from __future__ import annotations

import logging

from django.dispatch import Signal

log = logging.getLogger(__name__)

scan_finished = Signal()


def notify_finished(scan: object) -> None:
    for receiver, result in scan_finished.send_robust(sender=type(scan), scan=scan):
        if isinstance(result, Exception):
            log.error("scan_finished receiver %r failed: %r", receiver, result)

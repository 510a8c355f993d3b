"""The hook into scanning: turn a finished scan into regression rows, hand the rest to a task.

Runs in the scan's worker right after its results are committed, so it only writes the
state changes; fan-out and SMTP happen in alerts.tasks.process_events.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from alerts.detect import detect
from scans.models import ScanRun


def on_scan_finished(sender: Any, scan: ScanRun, **kwargs: Any) -> None:
    from alerts.tasks import process_events

    ids = [event.pk for event in detect(scan)]
    if ids:
        # robust: a broker that is down must not fail the scan; the beat's sweep sends
        # whatever this enqueue failed to hand over.
        transaction.on_commit(lambda: process_events.delay(ids), robust=True)

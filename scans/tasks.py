"""Celery tasks: ids in, a service call, nothing else. Credentials never cross the broker."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError

from scans import services

# A PostgreSQL restart takes a few seconds, a failover under a minute.
DATABASE_RETRY_SECONDS = 10


# max_retries=None: the number of attempts is the service's decision (POSTURE_SCAN_ATTEMPTS),
# made on the ScanRun row so that it survives a worker restart.
@shared_task(bind=True, name="scans.tasks.scan_host", ignore_result=True, max_retries=None)
def scan_host(self: Any, scan_id: int) -> None:
    try:
        scan = services.run_scan(scan_id, retry=True)
    except (OperationalError, InterfaceError) as exc:
        # The database is down: acknowledged and dropped, the run would wait for the beat's
        # sweep; retried, the worker finishes it by itself once the database is back.
        raise self.retry(countdown=DATABASE_RETRY_SECONDS, exc=exc) from None
    delay = services.pending_retry(scan)
    if delay is not None:
        raise self.retry(countdown=delay)


@shared_task(name="scans.tasks.dispatch_due_scans", ignore_result=True)
def dispatch_due_scans() -> int:
    return services.dispatch_due_scans()


@shared_task(name="scans.tasks.prune_history", ignore_result=True)
def prune_history() -> int:
    return services.prune_history()

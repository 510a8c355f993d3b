"""Celery tasks: ids in, a service call, nothing else. Credentials never cross the broker."""

from __future__ import annotations

from celery import shared_task

from scans import services


@shared_task(name="scans.tasks.scan_host", ignore_result=True)
def scan_host(scan_id: int) -> None:
    services.run_scan(scan_id)


@shared_task(name="scans.tasks.dispatch_due_scans", ignore_result=True)
def dispatch_due_scans() -> int:
    return services.dispatch_due_scans()


@shared_task(name="scans.tasks.prune_history", ignore_result=True)
def prune_history() -> int:
    return services.prune_history()

"""Celery tasks: a service call, nothing else."""

from __future__ import annotations

from celery import shared_task

from audit import retention


@shared_task(name="audit.tasks.prune_audit", ignore_result=True)
def prune_audit() -> dict[str, int]:
    return retention.prune()

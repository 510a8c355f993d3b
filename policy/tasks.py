"""Celery tasks: a service call, nothing else."""

from __future__ import annotations

from celery import shared_task

from policy import exceptions as services


@shared_task(name="policy.tasks.expire_exceptions", ignore_result=True)
def expire_exceptions() -> int:
    return services.queue_expired()

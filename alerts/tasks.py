"""Celery tasks: ids in, a service call, nothing else."""

from __future__ import annotations

from celery import shared_task

from alerts import services


@shared_task(name="alerts.tasks.process_events", ignore_result=True)
def process_events(event_ids: list[int]) -> int:
    return sum(services.process_event(pk) for pk in event_ids)


@shared_task(name="alerts.tasks.send_due", ignore_result=True)
def send_due() -> int:
    return services.send_due()

"""Celery tasks: ids in, a service call, nothing else."""

from __future__ import annotations

from celery import shared_task

from alerts import deliveries, services


@shared_task(name="alerts.tasks.process_events", ignore_result=True)
def process_events(event_ids: list[int]) -> int:
    return sum(services.process_event(pk) for pk in event_ids)


@shared_task(name="alerts.tasks.send_due", ignore_result=True)
def send_due() -> int:
    return services.send_due()


@shared_task(name="alerts.tasks.deliver", ignore_result=True)
def deliver(notification_ids: list[int]) -> int:
    """One attempt per channel message (alerts.deliveries); retries schedule this again."""
    return deliveries.deliver(notification_ids)


@shared_task(name="alerts.tasks.send_channel_test", ignore_result=True)
def send_channel_test(subscription_id: int) -> bool:
    return deliveries.send_test(subscription_id)

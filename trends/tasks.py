"""Celery tasks: thin wrappers over trends.rollup and trends.services."""

from __future__ import annotations

from celery import shared_task

from trends import rollup, services


@shared_task(name="trends.tasks.rollup_scores", ignore_result=True)
def rollup_scores() -> int:
    return rollup.rollup_scores()


@shared_task(name="trends.tasks.send_due_reports", ignore_result=True)
def send_due_reports() -> int:
    return services.send_due_reports()

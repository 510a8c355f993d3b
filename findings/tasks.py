"""Celery tasks: a service call, nothing else."""

from __future__ import annotations

from celery import shared_task

from findings import tallies


# Heals drift in the catalogue's fleet totals (a summary written around the ORM, a bug):
# scans keep them exact as they go, so this normally corrects nothing.
@shared_task(name="findings.tasks.rebuild_rule_tallies", ignore_result=True)
def rebuild_rule_tallies() -> int:
    return tallies.rebuild_rule_tallies()

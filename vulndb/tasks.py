"""Celery tasks: a service call, nothing else."""

from __future__ import annotations

from pathlib import Path

from celery import shared_task
from django.conf import settings

from vulndb import importer

_LIMIT = settings.POSTURE_VULNDB_IMPORT_TIME_LIMIT


@shared_task(
    name="vulndb.tasks.import_drop_folder",
    ignore_result=True,
    soft_time_limit=_LIMIT,
    time_limit=_LIMIT + 60,
)
def import_drop_folder() -> int:
    """Import POSTURE_VULNDB_DIR when its files changed; the number of records changed."""
    if not settings.POSTURE_VULNDB_DIR:
        return 0
    report = importer.sync_drop_folder(Path(settings.POSTURE_VULNDB_DIR))
    return report.changed if report is not None else 0

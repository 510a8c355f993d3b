"""The retention sweep: the one deletion of audit rows the application makes.

Rows older than POSTURE_AUDIT_RETENTION_DAYS go, from both trail tables, in batches (a
year of a busy fleet's changes in one statement would hold its locks for long). On
PostgreSQL each batch's transaction says `SET LOCAL posture.audit_prune = 'on'`, the one
thing the append-only trigger lets through (audit/migrations/0002); it is switched off
again before the transaction ends, so nothing else in the same transaction inherits it.
"""

from __future__ import annotations

import datetime

from auditlog.models import LogEntry
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from audit.models import AuditEvent

BATCH = 5000
PRUNE_ON = "SET LOCAL posture.audit_prune = 'on'"
PRUNE_OFF = "SET LOCAL posture.audit_prune = 'off'"


def prune(days: int | None = None, *, now: datetime.datetime | None = None) -> dict[str, int]:
    """Delete trail rows older than `days` (default: the setting); {table: rows deleted}."""
    keep = days if days is not None else settings.POSTURE_AUDIT_RETENTION_DAYS
    cutoff = (now or timezone.now()) - datetime.timedelta(days=keep)
    return {
        AuditEvent._meta.db_table: _delete_before(AuditEvent, "at", cutoff),
        LogEntry._meta.db_table: _delete_before(LogEntry, "timestamp", cutoff),
    }


def _delete_before(model: type[Model], column: str, cutoff: datetime.datetime) -> int:
    quote = connection.ops.quote_name
    table, pk = quote(model._meta.db_table), quote(model._meta.pk.column or "id")
    # A statement of our own, not QuerySet.delete(): the models refuse deletion, and
    # nothing refers to an audit row, so there is nothing for Django to cascade.
    sql = (
        f"DELETE FROM {table} WHERE {pk} IN "
        f"(SELECT {pk} FROM {table} WHERE {quote(column)} < %s ORDER BY {pk} LIMIT %s)"
    )
    postgres = connection.vendor == "postgresql"
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            if postgres:
                cursor.execute(PRUNE_ON)
            cursor.execute(sql, [connection.ops.adapt_datetimefield_value(cutoff), BATCH])
            deleted = cursor.rowcount
            # (On an error the rollback undoes the SET LOCAL as well.)
            if postgres:
                cursor.execute(PRUNE_OFF)
        total += deleted
        if deleted < BATCH:
            return total

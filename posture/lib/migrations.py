"""Index operations for migrations on big tables, on both databases Posture runs on.

On PostgreSQL a plain CREATE INDEX (or DROP INDEX) inside a migration's transaction stops
every write to the table (and DROP every read) until the transaction ends: minutes at a
million findings. django.contrib.postgres's concurrent operations avoid that, but they only
speak PostgreSQL; SQLite (a single writer, no concurrent readers to protect) takes the plain
statement. The migration that uses them sets `atomic = False`.
tests/posture/test_migrations_safety.py refuses other index operations on the big tables.
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.operations import (
    AddIndexConcurrently as PostgresAddIndexConcurrently,
)
from django.contrib.postgres.operations import (
    RemoveIndexConcurrently as PostgresRemoveIndexConcurrently,
)
from django.db.migrations import AddIndex, RemoveIndex


def _postgres(schema_editor: Any) -> bool:
    return schema_editor.connection.vendor == "postgresql"


class AddIndexConcurrently(PostgresAddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL, CREATE INDEX elsewhere."""

    def database_forwards(self, app_label: str, schema_editor: Any, *states: Any) -> None:
        if _postgres(schema_editor):
            super().database_forwards(app_label, schema_editor, *states)
        else:
            AddIndex.database_forwards(self, app_label, schema_editor, *states)

    def database_backwards(self, app_label: str, schema_editor: Any, *states: Any) -> None:
        if _postgres(schema_editor):
            super().database_backwards(app_label, schema_editor, *states)
        else:
            AddIndex.database_backwards(self, app_label, schema_editor, *states)


class RemoveIndexConcurrently(PostgresRemoveIndexConcurrently):
    """DROP INDEX CONCURRENTLY on PostgreSQL, DROP INDEX elsewhere."""

    def database_forwards(self, app_label: str, schema_editor: Any, *states: Any) -> None:
        if _postgres(schema_editor):
            super().database_forwards(app_label, schema_editor, *states)
        else:
            RemoveIndex.database_forwards(self, app_label, schema_editor, *states)

    def database_backwards(self, app_label: str, schema_editor: Any, *states: Any) -> None:
        if _postgres(schema_editor):
            super().database_backwards(app_label, schema_editor, *states)
        else:
            RemoveIndex.database_backwards(self, app_label, schema_editor, *states)

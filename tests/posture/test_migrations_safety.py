"""Migrations stay safe to roll out on a database holding years of history.

Static checks over the migration files (no database work, so it runs in both suites):
- every migration can be unapplied (a failed release is rolled back with `migrate app N`),
  or is listed in IRREVERSIBLE with the reason;
- a migration written after the last release does not build an index, a constraint or a
  column rewrite on a big table inside a transaction: on PostgreSQL that holds a lock that
  stops the scans' writes (CREATE INDEX) or every page's reads (ALTER TABLE … TYPE) for as
  long as the table takes to read, minutes at a million findings. Indexes go in with
  posture.lib.migrations.AddIndexConcurrently (PostgreSQL's concurrent build, a plain one
  on SQLite) in a migration with `atomic = False`; backfills in batches.

bench/bench_migrations.py measures the real durations and locks on the bench data
(docs/BENCHMARKS.md); this test keeps new migrations from undoing that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import connection, migrations, models
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration
from django.db.migrations.state import ProjectState

from posture.lib import migrations as safe

# The tables that hold history: a million findings, a year of score samples and scan runs,
# their daily rollups, vulnerability occurrences, the audit trail. Not alerts' notifications
# (one per message sent: thousands, where an index builds in milliseconds).
BIG_TABLES = {
    "scans_finding",
    "scans_scoresample",
    "scans_scanrun",
    "scans_container",
    "trends_dailyscore",
    "trends_dailyrulefailing",
    "trends_dailyfindingflow",
    "vulns_vulnoccurrence",
    "auditlog_logentry",
    "audit_event",
}
# The last migration of each app in the previous release (cb17a23): those are deployed
# and measured (docs/BENCHMARKS.md, "Migrations on a large database"); rewriting them would
# change what existing databases went through. Everything after them is checked.
RELEASED = {
    "access": 2,
    "accounts": 1,
    "alerts": 6,
    "audit": 2,
    "findings": 3,
    "hosts": 4,
    "policy": 3,
    "scans": 12,
    "trends": 3,
    "vulndb": 1,
    "vulns": 5,
}
# (app, migration) -> why it cannot be unapplied. Empty today: every migration reverses.
IRREVERSIBLE: dict[tuple[str, str], str] = {}
INDEX_SQL = re.compile(r"\bCREATE\s+(UNIQUE\s+)?INDEX\b(?!\s+CONCURRENTLY)", re.IGNORECASE)


@dataclass(frozen=True)
class Problem:
    migration: str
    operation: str
    why: str

    def __str__(self) -> str:
        return f"{self.migration}: {self.operation}: {self.why}"


def project_migrations(loader: MigrationLoader) -> dict[tuple[str, str], Migration]:
    local = {config.label for config in apps.get_app_configs() if _is_ours(config.path)}
    return {key: m for key, m in loader.disk_migrations.items() if key[0] in local}


def _is_ours(path: str) -> bool:
    return path.startswith(str(settings.BASE_DIR)) and "/.venv/" not in path


def released(key: tuple[str, str]) -> bool:
    number = int(key[1].split("_", 1)[0])
    return number <= RELEASED.get(key[0], 0)


def _table(state: ProjectState, app: str, model_name: str) -> str:
    model = state.models.get((app, model_name.lower()))
    if model is None:
        return f"{app}_{model_name.lower()}"
    return model.options.get("db_table") or f"{app}_{model_name.lower()}"


def _field_needs_work(field: models.Field) -> bool:
    """Adding this column builds an index or checks every row."""
    return bool(
        getattr(field, "db_index", False) or field.unique or isinstance(field, models.ForeignKey)
    )


def lock_problems(migration: Migration, before: ProjectState) -> list[Problem]:
    """What in one migration would lock a big table while it reads all of it."""
    name = f"{migration.app_label}.{migration.name}"
    found: list[Problem] = []
    state = before.clone()
    for op in migration.operations:
        label = type(op).__name__
        table = ""
        if hasattr(op, "model_name"):
            table = _table(state, migration.app_label, op.model_name)
        big = table in BIG_TABLES
        if isinstance(op, AddIndexConcurrently | RemoveIndexConcurrently):
            pass
        elif isinstance(op, migrations.AddIndex) and big:
            found.append(Problem(name, label, f"index on {table}: use AddIndexConcurrently"))
        elif isinstance(op, migrations.RemoveIndex) and big:
            found.append(Problem(name, label, f"index on {table}: use RemoveIndexConcurrently"))
        elif isinstance(op, migrations.AddConstraint) and big:
            found.append(Problem(name, label, f"constraint on {table} validates every row"))
        elif isinstance(op, migrations.AddField) and big and _field_needs_work(op.field):
            found.append(Problem(name, label, f"{op.name} on {table} builds an index"))
        elif isinstance(op, migrations.AlterField) and big:
            old = state.models[(migration.app_label, op.model_name.lower())].fields[op.name]
            if _column(old) != _column(op.field):
                found.append(Problem(name, label, f"{op.name} on {table} rewrites or re-indexes"))
        elif isinstance(op, migrations.RunSQL):
            sql = " ".join(s if isinstance(s, str) else s[0] for s in _statements(op.sql))
            if INDEX_SQL.search(sql) and any(t in sql for t in BIG_TABLES):
                found.append(Problem(name, label, "CREATE INDEX without CONCURRENTLY"))
        op.state_forwards(migration.app_label, state)
    return found


def _statements(sql: object) -> list[object]:
    return list(sql) if isinstance(sql, list | tuple) else [sql]


def _column(field: models.Field) -> tuple[object, ...]:
    """What the database sees of a field: a change here is DDL on the table."""
    _, path, args, kwargs = field.deconstruct()
    keep = ("max_length", "null", "db_index", "unique", "max_digits", "decimal_places", "to")
    return (path, *args, *(kwargs.get(k) for k in keep))


@pytest.fixture(scope="module")
def loader() -> MigrationLoader:
    return MigrationLoader(None, ignore_no_migrations=True)


def test_every_migration_reverses_or_says_why_not(loader: MigrationLoader) -> None:
    ours = project_migrations(loader)
    stuck = {
        key
        for key, migration in ours.items()
        if any(not op.reversible for op in migration.operations)
    }

    assert stuck <= set(IRREVERSIBLE), f"irreversible without a reason: {stuck - set(IRREVERSIBLE)}"
    assert all(IRREVERSIBLE.values())
    assert set(IRREVERSIBLE) <= stuck, "IRREVERSIBLE lists migrations that now reverse"


def test_new_migrations_do_not_lock_big_tables(loader: MigrationLoader) -> None:
    problems: list[Problem] = []
    for key, migration in sorted(project_migrations(loader).items()):
        if released(key):
            continue
        before = loader.project_state(key, at_end=False)
        problems += lock_problems(migration, before)

    assert not problems, "\n".join(map(str, problems))


def test_released_migrations_are_the_ones_on_disk(loader: MigrationLoader) -> None:
    """RELEASED names migrations that exist: a typo would exempt nothing, or everything."""
    ours = project_migrations(loader)
    for app, last in RELEASED.items():
        assert any(k[0] == app and int(k[1][:4]) == last for k in ours), (app, last)


def test_the_check_catches_an_index_built_in_a_transaction(loader: MigrationLoader) -> None:
    """GIVEN two versions of the same index on findings, WHEN checked, THEN the plain one is
    refused and the concurrent one in a non-atomic migration passes."""
    state = loader.project_state(loader.graph.leaf_nodes(), at_end=True)
    index = models.Index(fields=["rule_id", "opened_at"], name="finding_rule_opened_idx")

    plain = type("Migration", (migrations.Migration,), {})("0099_plain", "findings")
    plain.operations = [migrations.AddIndex("finding", index)]
    concurrent = type("Migration", (migrations.Migration,), {"atomic": False})(
        "0099_concurrent", "findings"
    )
    concurrent.operations = [safe.AddIndexConcurrently("finding", index)]
    raw = type("Migration", (migrations.Migration,), {})("0099_raw", "trends")
    raw.operations = [migrations.RunSQL("CREATE INDEX x ON scans_finding (rule_id)", "")]

    assert [p.why for p in lock_problems(plain, state)] == [
        "index on scans_finding: use AddIndexConcurrently"
    ]
    assert lock_problems(concurrent, state) == []
    assert [p.why for p in lock_problems(raw, state)] == ["CREATE INDEX without CONCURRENTLY"]


@pytest.mark.django_db(transaction=True)
def test_the_concurrent_index_operations_run_on_this_database(loader: MigrationLoader) -> None:
    """posture.lib.migrations' operations build and drop the index on SQLite and PostgreSQL
    alike, outside a transaction as a non-atomic migration runs them."""
    before = loader.project_state(loader.graph.leaf_nodes(), at_end=True)
    index = models.Index(fields=["rule_id", "opened_at"], name="finding_rule_opened_idx")
    add = safe.AddIndexConcurrently("finding", index)
    after = before.clone()
    add.state_forwards("findings", after)

    def indexes() -> set[str]:
        with connection.cursor() as cursor:
            return set(connection.introspection.get_constraints(cursor, "scans_finding"))

    with connection.schema_editor(atomic=False) as editor:
        add.database_forwards("findings", editor, before, after)
    built = indexes()
    with connection.schema_editor(atomic=False) as editor:
        add.database_backwards("findings", editor, after, before)

    assert "finding_rule_opened_idx" in built
    assert "finding_rule_opened_idx" not in indexes()

"""Migrations on a large PostgreSQL database: how long each takes, which big table it locks.

    python bench/bench_migrations.py --hosts 1000 --findings 1000000 [--reuse-db] [--keep-db]

Seeds a dedicated database posture_bench_migrations on the lab PostgreSQL cluster with
bench_pages' data (1,000 hosts, 1,000,000 findings, 90 days of score samples, 30 days of
scan runs; its `seed`, so both benches measure the same shape), then unapplies the last
--last migrations of every app (their dependents with them, in the order Django plans) and
reapplies them to the latest state, one at a time.

For each step: its wall time, the time its SQL took (an execute wrapper), and for each big
table (the --big largest by size) how long a second connection saw an AccessExclusiveLock
granted on it (pg_locks sampled every --probe-ms). An AccessExclusiveLock blocks every read
of the table, so the web pages over it wait that long. Steps over --budget seconds of lock
are flagged. Prints markdown (docs/BENCHMARKS.md keeps the figures); writes nothing into
the repository.

Unapplying drops what later migrations added (their columns and rows): the bench database
is thrown away, never a copy of a real one.
"""

# ruff: noqa: E402  (the repository root must be on sys.path before the project imports)
from __future__ import annotations

import argparse
import contextlib
import os
import platform
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_pages

from lab.services import LabPostgres

DB_NAME = "posture_bench_migrations"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Step:
    app: str
    name: str
    backwards: bool
    wall_s: float = 0.0
    sql_s: float = 0.0
    statements: int = 0
    # "table" (reads and writes blocked) or "table (writes)" -> seconds seen granted
    locks: dict[str, float] = field(default_factory=dict)
    error: str = ""

    def worst_lock(self, writes: bool) -> tuple[str, float]:
        held = [(t, s) for t, s in self.locks.items() if t.endswith(" (writes)") == writes]
        return max(held, key=lambda item: item[1], default=("", 0.0))


class LockProbe:
    """Samples pg_locks from its own connection while a migration runs."""

    # AccessExclusiveLock blocks reads too (pages wait); the others block writes only
    # (scans wait to store their findings), e.g. CREATE INDEX without CONCURRENTLY.
    SQL = (
        "SELECT c.relname, l.mode = 'AccessExclusiveLock' FROM pg_locks l"
        " JOIN pg_class c ON c.oid = l.relation JOIN pg_database d ON d.oid = l.database"
        " WHERE l.granted AND d.datname = %s AND c.relname = ANY(%s) AND l.mode IN"
        " ('AccessExclusiveLock', 'ExclusiveLock', 'ShareRowExclusiveLock', 'ShareLock')"
    )

    def __init__(self, url: str, tables: list[str], every_s: float) -> None:
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)
        self.tables = tables
        self.every_s = every_s
        self.seen: dict[str, tuple[float, float]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def watching(self) -> Iterator[dict[str, float]]:
        self.seen = {}
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        held: dict[str, float] = {}
        try:
            yield held
        finally:
            self._stop.set()
            self._thread.join()
            # One sighting is at least one probe interval of lock.
            held.update({t: last - first + self.every_s for t, (first, last) in self.seen.items()})

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.perf_counter()
            for table, exclusive in self.conn.execute(self.SQL, [DB_NAME, self.tables]):
                key = f"{table}{'' if exclusive else ' (writes)'}"
                first, _ = self.seen.get(key, (now, now))
                self.seen[key] = (first, now)
            self._stop.wait(self.every_s)


def prepare(args: argparse.Namespace, data_dir: Path) -> str:
    import psycopg

    info = LabPostgres("test-pg").start().info
    admin = info.url.rsplit("/", 1)[0] + "/postgres"
    os.environ.update(
        {
            **info.env(),
            "POSTURE_DB_NAME": DB_NAME,
            "POSTURE_DATA_DIR": str(data_dir),
            "POSTURE_LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "posture.settings",
        }
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone()
        if exists and not args.reuse_db:
            conn.execute(f"DROP DATABASE {DB_NAME} WITH (FORCE)")
        if not exists or not args.reuse_db:
            conn.execute(f"CREATE DATABASE {DB_NAME}")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from django.db import connection

    from findings.models import Finding
    from hosts.models import Host

    if args.reuse_db and Host.objects.count() == args.hosts:
        log(f"reusing {DB_NAME}: {Finding.objects.count():,} findings")
    else:
        if Host.objects.exists():
            raise SystemExit(f"{DB_NAME} holds other rows; run without --reuse-db")
        began = time.perf_counter()
        seeded = bench_pages.seed(args.hosts, args.findings)
        log(f"seeded in {time.perf_counter() - began:.0f} s: {seeded['counts']}")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    return admin


def big_tables(n: int) -> list[tuple[str, int, int]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, pg_total_relation_size(relid), n_live_tup FROM pg_stat_user_tables"
            " ORDER BY 2 DESC LIMIT %s",
            [n],
        )
        return list(cursor.fetchall())


def plans(last: int) -> tuple[list[tuple[str, str | None]], list[tuple[Any, bool]]]:
    """The backward targets (each app `last` migrations back) and the plan to reach them."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    graph = executor.loader.graph
    targets: list[tuple[str, str | None]] = []
    for app, leaf in graph.leaf_nodes():
        if not (ROOT / app / "migrations").is_dir():
            continue  # Django's and third parties' migrations are theirs to keep safe
        chain = [n for n in graph.forwards_plan((app, leaf)) if n[0] == app]
        keep = chain[: max(1, len(chain) - last)]  # an app's initial migration stays
        targets.append((app, keep[-1][1]))
    return targets, executor.migration_plan(targets)


def run_step(node: tuple[str, str], backwards: bool, probe: LockProbe) -> Step:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    step = Step(node[0], node[1], backwards)

    def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            step.sql_s += time.perf_counter() - began
            step.statements += 1

    executor = MigrationExecutor(connection)
    if backwards:
        # Unapply exactly this migration: its app back to the migration before it.
        parents = [p for p in executor.loader.graph.node_map[node].parents if p.key[0] == node[0]]
        target: tuple[str, str | None] = (node[0], parents[0].key[1] if parents else None)
    else:
        target = node
    plan = executor.migration_plan([target])
    began = time.perf_counter()
    try:
        with probe.watching() as held, connection.execute_wrapper(timed):
            executor.migrate([target], plan=plan)
    except Exception as error:  # the bench reports it and stops; nothing to keep
        step.error = f"{type(error).__name__}: {error}"
    step.wall_s = time.perf_counter() - began
    step.locks = held
    if len(plan) != 1:
        step.error = step.error or f"the plan held {len(plan)} steps"
    return step


def applied(node: tuple[str, str]) -> bool:
    from django.db import connection
    from django.db.migrations.recorder import MigrationRecorder

    return node in MigrationRecorder(connection).applied_migrations()


def report(args: argparse.Namespace, tables: list[tuple[str, int, int]], steps: list[Step]) -> str:
    lines = [
        f"### Migrations on {args.hosts:,} hosts / {args.findings:,} findings (PostgreSQL)",
        "",
        f"- Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
        f"`python bench/bench_migrations.py --hosts {args.hosts} --findings {args.findings} "
        f"--last {args.last}`.",
        "- Big tables watched: "
        + ", ".join(f"`{t}` ({size / 2**20:,.0f} MiB, {rows:,} rows)" for t, size, rows in tables)
        + ".",
        f"- Locks: how long one of them was seen locked (pg_locks sampled every "
        f"{args.probe_ms:g} ms; a sighting counts one interval): AccessExclusiveLock blocks "
        "reads and writes (pages wait); Share / ShareRowExclusive / Exclusive block writes "
        f"(scans wait). Budget {args.budget:g} s for either.",
        "- Wall time includes Django's planning and state rendering (seconds on a loaded "
        "machine); SQL time is the database's part.",
        "",
        "| migration | direction | wall s | SQL s | statements | reads blocked | writes blocked |"
        " verdict |",
        "| --- | --- | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for step in steps:
        cells, worst = [], 0.0
        for writes in (False, True):
            table, held = step.worst_lock(writes)
            cells.append(f"`{table.removesuffix(' (writes)')}` {held:.2f} s" if table else "—")
            worst = max(worst, held)
        verdict = (
            f"error: {step.error}"
            if step.error
            else ("**over budget**" if worst > args.budget else "ok")
        )
        lines.append(
            f"| {step.app}.{step.name} | {'unapply' if step.backwards else 'apply'} "
            f"| {step.wall_s:.2f} | {step.sql_s:.2f} | {step.statements} | {cells[0]} "
            f"| {cells[1]} | {verdict} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--findings", type=int, default=1_000_000)
    parser.add_argument("--last", type=int, default=10, help="migrations per app to redo")
    parser.add_argument("--big", type=int, default=8, help="how many of the largest tables")
    parser.add_argument("--probe-ms", type=float, default=20.0)
    parser.add_argument("--budget", type=float, default=3.0, help="seconds of lock allowed")
    parser.add_argument("--reuse-db", action="store_true", help="keep an already seeded database")
    parser.add_argument("--keep-db", action="store_true", help=f"leave {DB_NAME} at the end")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    data_dir = Path(tempfile.mkdtemp(prefix="posture-migrations-"))
    with contextlib.ExitStack() as stack:
        admin = prepare(args, data_dir)
        if not args.keep_db:
            stack.callback(drop_database, admin)
        from django.db import connection

        tables = big_tables(args.big)
        probe = LockProbe(
            admin.rsplit("/", 1)[0] + f"/{DB_NAME}", [t for t, _, _ in tables], args.probe_ms / 1000
        )
        stack.callback(probe.conn.close)
        targets, backward = plans(args.last)
        log(f"unapplying {len(backward)} migrations back to {targets}")
        steps: list[Step] = []
        for migration, _ in backward:
            if not applied((migration.app_label, migration.name)):
                continue  # the plan can name a migration twice, through two targets
            steps.append(run_step((migration.app_label, migration.name), True, probe))
            log(f"unapply {migration.app_label}.{migration.name}: {steps[-1].wall_s:.2f} s")
            if steps[-1].error:
                break
        from django.db.migrations.executor import MigrationExecutor

        forward = MigrationExecutor(connection).migration_plan(
            MigrationExecutor(connection).loader.graph.leaf_nodes()
        )
        for migration, _ in forward:
            steps.append(run_step((migration.app_label, migration.name), False, probe))
            log(f"apply {migration.app_label}.{migration.name}: {steps[-1].wall_s:.2f} s")
            if steps[-1].error:
                break
        print(report(args, tables, steps), flush=True)


def drop_database(admin_url: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


if __name__ == "__main__":
    main()

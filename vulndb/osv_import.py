"""Importing OSV records: checked (in worker processes when there are many), compared with
what is stored by id and `modified`, and upserted in batches.

Apart from vulndb.importer so that the batch pipeline, its worker pool and the severity
enrichment read as one piece.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import threading
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from vulndb import osv, records
from vulndb.inputs import InputReport, Item, loads, parse_ts
from vulndb.matching import normalise_name
from vulndb.models import Advisory, AffectedPackage
from vulndb.upsert import bump_generation, upsert

BATCH = 2000  # records per transaction
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")

# --- Checking OSV records (in worker processes when there are many) ---------------------


def _check(where: str, raw: bytes) -> records.Advisory | str:
    """The parsed advisory, or why it is refused. Runs in a worker process: pure."""
    try:
        doc = loads(raw)
        if _SURROGATE_ESCAPE.search(raw):
            json.dumps(doc, ensure_ascii=False).encode("utf-8")  # lone surrogates raise
        advisory = osv.parse_osv(doc)  # validates against the schema first
    except osv.InvalidRecord as exc:
        return str(exc) or "invalid record"
    except UnicodeError:
        return "invalid Unicode text"
    except ValueError as exc:
        return f"not JSON: {exc}"
    except (TypeError, KeyError, AttributeError, RecursionError) as exc:
        return f"could not be parsed ({type(exc).__name__})"
    return _fits(advisory) or advisory


def _fits(a: records.Advisory) -> str:
    """Why the record does not fit the columns (PostgreSQL refuses what SQLite would keep)."""
    if len(a.id) > 128 or len(a.group) > 128:
        return "id or alias longer than 128 characters"
    if len(a.cvss_vector) > 255:
        return "CVSS vector longer than 255 characters"
    for aff in a.affected:
        if len(aff.ecosystem) > 64 or len(aff.name) > 255:
            return "ecosystem or package name too long"
    return ""


def check_batch(items: list[tuple[str, bytes]]) -> list[records.Advisory | str]:
    return [_check(where, raw) for where, raw in items]


class Checker:
    """Checks batches in worker processes once a batch is large enough to pay for them,
    in this process otherwise (small imports, tests, and threaded workers: a fork there
    could copy a lock another thread holds)."""

    def __init__(self, workers: int | None) -> None:
        if workers is None:
            # The schema check costs 0.5-1 ms a record, minutes for a whole corpus on one
            # core: the import's largest cost, spread over the CPUs. A daemonic process
            # (Celery's prefork child) may not have children; a threaded one must not fork.
            alone = threading.active_count() == 1 and not multiprocessing.current_process().daemon
            workers = min(os.cpu_count() or 1, 4) if alone else 0
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None

    def submit(self, items: list[tuple[str, bytes]]) -> Future[list[records.Advisory | str]]:
        if self.pool is None and self.workers > 1 and len(items) >= BATCH // 2:
            context = multiprocessing.get_context("fork")
            self.pool = ProcessPoolExecutor(self.workers, mp_context=context)
        if self.pool is not None:
            return self.pool.submit(check_batch, items)
        future: Future[list[records.Advisory | str]] = Future()
        future.set_result(check_batch(items))
        return future

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


# --- Writing -------------------------------------------------------------------------------

ADVISORY_COLUMNS = [
    "id",
    "modified",
    "published",
    "summary",
    "details",
    "aliases",
    "upstream",
    "group",
    "severity",
    "severity_from",
    "cvss_vector",
    "cvss_score",
    "references",
    "source",
]
AFFECTED_COLUMNS = ["advisory_id", "ecosystem", "name", "ranges", "versions", "fixed"]


def _advisory_row(a: records.Advisory, source: str) -> tuple[Any, ...]:
    ops = connection.ops
    return (
        a.id,
        ops.adapt_datetimefield_value(a.modified),
        ops.adapt_datetimefield_value(a.published),
        a.summary,
        a.details,
        ops.adapt_json_value(list(a.aliases), None),
        ops.adapt_json_value(list(a.upstream), None),
        a.group,
        int(a.severity),
        "",
        a.cvss_vector,
        a.cvss_score,
        ops.adapt_json_value(list(a.references), None),
        source[:160],
    )


def _affected_rows(a: records.Advisory) -> list[tuple[Any, ...]]:
    json_value = connection.ops.adapt_json_value
    return [
        (
            a.id,
            aff.ecosystem,
            normalise_name(aff.ecosystem, aff.name),
            json_value(
                [{"type": r.type, "events": [list(e) for e in r.events]} for r in aff.ranges],
                None,
            ),
            json_value(list(aff.versions), None),
            json_value(list(aff.fixed), None),
        )
        for aff in a.affected
    ]


@dataclass
class _Pending:
    """One batch on its way: read and looked up here, checked in a worker, then written."""

    unchanged: int
    existing: dict[str, str]  # id -> group, of those already stored
    to_check: list[tuple[str, bytes]]
    future: Future[list[records.Advisory | str]]


class OsvImport:
    """One run's OSV records, over every input of the run."""

    def __init__(self, workers: int | None) -> None:
        self.checker = Checker(workers)
        # Newest `modified` seen per id in this run: batches are looked up before the
        # previous ones are written, and the same id may come twice (a zip and a folder).
        self.seen: dict[str, datetime] = {}

    def close(self) -> None:
        self.checker.close()

    def import_records(self, entry: InputReport, items: Iterable[Item], source: str) -> None:
        groups: set[str] = set()
        in_flight: deque[_Pending] = deque()
        batch: list[tuple[str, bytes]] = []
        first_change = [True]
        for where, raw, why in items:
            if raw is None:
                entry.reject(where, why)
                continue
            batch.append((where, raw))
            if len(batch) >= BATCH:
                in_flight.append(self._prepare(entry, batch))
                batch = []
                if len(in_flight) > 4:  # keeps every worker busy, memory bounded
                    self._write(entry, in_flight.popleft(), source, groups, first_change)
        if batch:
            in_flight.append(self._prepare(entry, batch))
        while in_flight:
            self._write(entry, in_flight.popleft(), source, groups, first_change)
        enrich_severity(groups)

    def _prepare(self, entry: InputReport, batch: list[tuple[str, bytes]]) -> _Pending:
        """Leave out records not newer than what is stored, without validating them."""
        stamps: dict[str, tuple[datetime, str, bytes]] = {}
        undecided: list[tuple[str, bytes]] = []
        for where, raw in batch:
            doc = _peek(raw)
            ts = parse_ts(doc.get("modified")) if doc else None
            ident = doc.get("id") if doc else None
            if not isinstance(ident, str) or ts is None:
                undecided.append((where, raw))  # the check says what is wrong with it
                continue
            if entry.data_date is None or ts > entry.data_date:
                entry.data_date = ts
            known = stamps.get(ident)
            if known is not None:
                entry.unchanged += 1  # the same record twice in one batch: the newer stands
                if known[0] >= ts:
                    continue
            stamps[ident] = (ts, where, raw)
        rows = Advisory.objects.filter(id__in=list(stamps)).values_list("id", "modified", "group")
        stored = {i: (m, g) for i, m, g in rows}
        unchanged = 0
        to_check = list(undecided)
        for ident, (ts, where, raw) in stamps.items():
            newest = [t for t in (stored.get(ident, (None, ""))[0], self.seen.get(ident)) if t]
            if newest and ts <= max(newest):
                unchanged += 1
                continue
            self.seen[ident] = ts
            to_check.append((where, raw))
        future = self.checker.submit(to_check)
        return _Pending(unchanged, {i: g for i, (_, g) in stored.items()}, to_check, future)

    def _write(
        self,
        entry: InputReport,
        pending: _Pending,
        source: str,
        groups: set[str],
        first_change: list[bool],
    ) -> None:
        entry.unchanged += pending.unchanged
        fresh: dict[str, records.Advisory] = {}
        for (where, _), result in zip(pending.to_check, pending.future.result(), strict=True):
            if isinstance(result, str):
                entry.reject(where, result)
            elif result.id in fresh and fresh[result.id].modified >= result.modified:
                entry.unchanged += 1
            else:
                fresh[result.id] = result
        upserts = [a for a in fresh.values() if a.withdrawn is None]
        gone = [a.id for a in fresh.values() if a.withdrawn is not None]
        if not fresh:
            return
        with transaction.atomic():
            # A record checked because its raw date did not parse may turn out not newer.
            stored = dict(Advisory.objects.filter(id__in=list(fresh)).values_list("id", "modified"))
            upserts = [a for a in upserts if a.id not in stored or a.modified > stored[a.id]]
            gone = [i for i in gone if i in stored]
            entry.unchanged += len(fresh) - len(upserts) - len(gone)
            if not upserts and not gone:
                return
            rows = [_advisory_row(a, source) for a in upserts]
            upsert(Advisory, ADVISORY_COLUMNS, rows, key="id")
            replaced = [a.id for a in upserts if a.id in stored]
            if replaced:
                AffectedPackage.objects.filter(advisory_id__in=replaced).delete()
            upsert(
                AffectedPackage, AFFECTED_COLUMNS, [r for a in upserts for r in _affected_rows(a)]
            )
            if gone:
                Advisory.objects.filter(id__in=gone).delete()
            if first_change[0]:
                # Also moved when the input is done: a crash in between still moves it.
                bump_generation()
                first_change[0] = False
        for a in upserts:
            if a.id in stored:
                entry.updated += 1
            else:
                entry.added += 1
            groups.add(a.group)
        entry.removed += len(gone)
        # An update may have moved a record to another group: the old one is recomputed too.
        ids = [*gone, *(a.id for a in upserts)]
        groups.update(pending.existing[i] for i in ids if i in pending.existing)


def _peek(raw: bytes) -> dict[str, Any] | None:
    """The record's id and modified, cheaply: the full check comes only for what is new."""
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def enrich_severity(groups: Iterable[str]) -> int:
    """Give advisories without a severity of their own (Debian's DSA/DLA) the highest one in
    their group (the CVE's or GHSA's record); the number of advisories changed."""
    changed = 0
    pending = sorted(set(groups))
    for start in range(0, len(pending), 500):
        chunk = pending[start : start + 500]
        rows = list(
            Advisory.objects.filter(group__in=chunk).only(
                "id", "group", "severity", "severity_from"
            )
        )
        best: dict[str, tuple[int, str]] = {}
        for row in rows:
            if not row.severity_from and row.severity:
                current = best.get(row.group, (0, ""))
                best[row.group] = max(current, (row.severity, row.id), key=lambda t: t[0])
        updates = []
        for row in rows:
            if row.severity and not row.severity_from:
                continue  # its own
            severity, origin = best.get(row.group, (0, ""))
            if (row.severity, row.severity_from) != (severity, origin):
                row.severity, row.severity_from = severity, origin
                updates.append(row)
        if updates:
            with transaction.atomic():
                Advisory.objects.bulk_update(updates, ["severity", "severity_from"])
            changed += len(updates)
    return changed

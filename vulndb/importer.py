"""Import vulnerability data files: OSV (a zip as published per ecosystem, a folder, one
file), the CISA KEV catalogue (JSON) and FIRST EPSS scores (CSV, gzipped or not).

Each input is recognised by its content, never its name. Files are untrusted: every read is
bounded, nothing is extracted to disk, a record that does not validate is refused whole (and
reported with its reason), and an input that cannot be read at all is an error for that input
only. OSV records are upserted by id and `modified`: a second import of the same data changes
nothing and does not move the data generation.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import logging
import math
import multiprocessing
import os
import re
import threading
import zipfile
import zlib
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from django.db import connection, models, transaction
from django.db.models import F
from django.utils import timezone

from vulndb import osv, records
from vulndb.matching import normalise_name
from vulndb.models import (
    Advisory,
    AffectedPackage,
    DataImport,
    DataState,
    EpssScore,
    KevEntry,
    current_generation,
)

log = logging.getLogger(__name__)

# One OSV record is a few KB; the largest in the published data are well under 1 MB.
MAX_RECORD_BYTES = 5 * 2**20
# OSV's all.zip per ecosystem: Debian ~60,000 members, all ecosystems together ~500,000.
MAX_MEMBERS = 1_000_000
MAX_ARCHIVE_BYTES = 8 * 2**30  # declared uncompressed total of one zip
# A whole file read at once: KEV is ~1.5 MB, EPSS ~12 MB uncompressed (2025).
MAX_FILE_BYTES = 256 * 2**20
# Parsed JSON costs ~25 bytes of objects per byte: a bigger list of records comes zipped.
MAX_JSON_BYTES = 32 * 2**20
MAX_EPSS_ROWS = 2_000_000
BATCH = 2000  # records per transaction
KEPT_REJECTIONS = 100
JSON_SUFFIXES = (".json", ".zip", ".csv", ".gz")

CVE_RE = re.compile(r"CVE-\d{4}-\d{4,19}")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")

Item = tuple[str, bytes | None, str]  # (where, record bytes or None, why it was not read)


class InputError(Exception):
    """An input that could not be read at all (unreadable, corrupt, not vulnerability data)."""


@dataclass
class InputReport:
    label: str
    kind: str = ""  # osv | kev | epss; blank when not recognised
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    removed: int = 0
    rejections: list[tuple[str, str]] = field(default_factory=list)  # (where, why), first 100
    error: str = ""
    skipped: bool = False  # the same file was imported before
    data_date: datetime | None = None

    @property
    def changed(self) -> int:
        return self.added + self.updated + self.removed

    def reject(self, where: str, why: str) -> None:
        self.rejected += 1
        if len(self.rejections) < KEPT_REJECTIONS:
            self.rejections.append((_printable(where), why))


@dataclass
class ImportReport:
    inputs: list[InputReport] = field(default_factory=list)
    generation: int = 0

    @property
    def ok(self) -> bool:
        """Every input could be read (records may still have been refused)."""
        return not any(i.error for i in self.inputs)

    @property
    def changed(self) -> int:
        return sum(i.changed for i in self.inputs)


def import_paths(
    paths: Sequence[Path], *, force: bool = False, workers: int | None = None
) -> ImportReport:
    """Import every path (file or folder). `force` reads a file already imported again;
    `workers` processes validate OSV records (None: one per CPU when it is safe to fork)."""
    report = ImportReport()
    session = _Session(report, force, _Checker(workers))
    try:
        for path in paths:
            session.import_path(Path(path))
    finally:
        session.close()
    report.generation = current_generation()
    return report


# --- Reading inputs ------------------------------------------------------------------------


def _printable(text: str, limit: int = 200) -> str:
    """Names come from archives: no control characters in a report or a terminal."""
    clean = "".join(c if c.isprintable() else "?" for c in text[:limit])
    return clean + ("…" if len(text) > limit else "")


def _sniff(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    return "plain"


def _read_bounded(fh: Any, limit: int, what: str) -> bytes:
    data: bytes = fh.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{what} is larger than {limit // 2**20} MB")
    return data


def _read_file(path: Path) -> bytes:
    """The file's payload, gunzipped when it is gzip."""
    try:
        if _sniff(path) == "gzip":
            with gzip.open(path, "rb") as fh:
                return _read_bounded(fh, MAX_FILE_BYTES, "decompressed file")
        with path.open("rb") as fh:
            return _read_bounded(fh, MAX_FILE_BYTES, "file")
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise InputError(f"corrupt gzip: {exc}") from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}") from None


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(2**20), b""):
            h.update(chunk)
    return h.hexdigest()


def _unsafe_name(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0] or "\x00" in name


def _zip_items(path: Path) -> Iterator[Item]:
    """Each member of an OSV zip as bytes, read in memory within its declared size."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zlib.error, ValueError, EOFError) as exc:
        raise InputError(f"corrupt zip: {exc}") from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise InputError(f"zip has {len(infos)} members, more than {MAX_MEMBERS}")
        declared = sum(i.file_size for i in infos)
        if declared > MAX_ARCHIVE_BYTES:
            raise InputError(f"zip declares {declared} bytes uncompressed, over the cap")
        for info in infos:
            name = info.filename
            if info.is_dir():
                continue
            if _unsafe_name(name):
                yield name, None, "unsafe member name"
            elif not name.lower().endswith(".json"):
                yield name, None, "not a .json member (nested archives are not read)"
            elif info.file_size > MAX_RECORD_BYTES:
                yield name, None, f"member of {info.file_size} bytes, over the 5 MB cap"
            else:
                yield _zip_member(archive, info)


def _zip_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Item:
    try:
        with archive.open(info) as fh:
            data = fh.read(MAX_RECORD_BYTES + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        return info.filename, None, f"corrupt member: {exc}"
    except (NotImplementedError, RuntimeError) as exc:  # unknown compression, encrypted
        return info.filename, None, f"unreadable member: {exc}"
    if len(data) != info.file_size:
        # zipfile stops at the declared size; anything else is a forged header.
        return info.filename, None, "size differs from the declared size (zip bomb?)"
    return info.filename, data, ""


def _json_head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(65536)


def _walk(folder: Path) -> Iterator[Path]:
    """Regular files in name order; hidden ones (partial downloads, .git) left out."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or not name.lower().endswith(JSON_SUFFIXES):
                continue
            path = Path(root, name)
            if path.is_file():
                yield path


def _text_kind(data: bytes) -> str:
    head = data[:256].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith((b"{", b"[")):
        return "json"
    if head.startswith(b"#model_version") or head.lower().startswith(b"cve,epss"):
        return "epss"
    return ""


def _loads(data: bytes) -> Any:
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    # ValueError covers bad JSON, bad UTF-8 and integers over Python's digit limit.


def _parse_ts(value: object) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


# --- Checking OSV records (in worker processes when there are many) ---------------------


def _check(where: str, raw: bytes) -> records.Advisory | str:
    """The parsed advisory, or why it is refused. Runs in a worker process: pure."""
    try:
        doc = _loads(raw)
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


def _check_batch(items: list[tuple[str, bytes]]) -> list[records.Advisory | str]:
    return [_check(where, raw) for where, raw in items]


class _Checker:
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
            return self.pool.submit(_check_batch, items)
        future: Future[list[records.Advisory | str]] = Future()
        future.set_result(_check_batch(items))
        return future

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


# --- Writing -------------------------------------------------------------------------------


def _bump_generation() -> None:
    DataState.objects.get_or_create(pk=1)
    DataState.objects.filter(pk=1).update(generation=F("generation") + 1, changed_at=timezone.now())


def _upsert(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    key: str | None = None,
) -> None:
    """INSERT … ON CONFLICT (pk) DO UPDATE, by executemany: the same statement on SQLite
    and PostgreSQL. bulk_create(update_conflicts=True) compiles SQL per value: 10.6 s of
    a 42 s import of 8,000 advisories went there, against ~1 s for this (bench/)."""
    qn = connection.ops.quote_name
    names = ", ".join(qn(c) for c in columns)
    marks = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {qn(model._meta.db_table)} ({names}) VALUES ({marks})"
    if key is not None:
        sets = ", ".join(f"{qn(c)} = EXCLUDED.{qn(c)}" for c in columns if c != key)
        sql += f" ON CONFLICT ({qn(key)}) DO UPDATE SET {sets}"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 1000):
            cursor.executemany(sql, rows[start : start + 1000])


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


class _Session:
    def __init__(self, report: ImportReport, force: bool, checker: _Checker) -> None:
        self.report = report
        self.force = force
        self.checker = checker
        # Newest `modified` seen per id in this run: batches are looked up before the
        # previous ones are written, and the same id may come twice (a zip and a folder).
        self.seen: dict[str, datetime] = {}

    def close(self) -> None:
        self.checker.close()

    def import_path(self, path: Path) -> None:
        if path.is_dir():
            self._import_folder(path)
        else:
            self._import_file(path)

    def _input(self, label: Path | str) -> InputReport:
        entry = InputReport(label=str(label))
        self.report.inputs.append(entry)
        return entry

    def _import_file(self, path: Path) -> None:
        entry = self._input(path)
        try:
            if not path.is_file():
                raise InputError("no such file")
            digest = _digest(path)
            if not self.force:
                seen = DataImport.objects.filter(digest=digest).order_by("-imported_at").first()
                if seen is not None:
                    entry.kind, entry.skipped, entry.data_date = seen.kind, True, seen.data_date
                    return
            self._dispatch_file(path, entry)
        except InputError as exc:
            entry.error = str(exc)
            return
        except OSError as exc:
            entry.error = f"cannot read: {exc.strerror or exc}"
            return
        self._record(entry, digest)

    def _dispatch_file(self, path: Path, entry: InputReport) -> None:
        if _sniff(path) == "zip":
            entry.kind = DataImport.Kind.OSV
            self._import_osv(entry, _zip_items(path), source=f"osv:{path.name}")
            return
        data = _read_file(path)
        kind = _text_kind(data)
        if kind == "epss":
            entry.kind = DataImport.Kind.EPSS
            _import_epss(entry, data, path)
        elif kind == "json":
            if len(data) > MAX_JSON_BYTES:
                raise InputError("JSON file over 32 MB: zip its records instead")
            try:
                doc = _loads(data)
            except ValueError as exc:
                raise InputError(f"not JSON: {_printable(str(exc))}") from None
            self._import_json(path, entry, doc, data)
        else:
            raise InputError("not OSV, KEV or EPSS data")

    def _import_json(self, path: Path, entry: InputReport, doc: Any, data: bytes) -> None:
        if isinstance(doc, dict) and "catalogVersion" in doc and "vulnerabilities" in doc:
            entry.kind = DataImport.Kind.KEV
            _import_kev(entry, doc)
        elif isinstance(doc, dict) and "id" in doc:
            entry.kind = DataImport.Kind.OSV
            self._import_osv(entry, [(path.name, data, "")], source=f"osv:{path.name}")
        elif isinstance(doc, list) and all(isinstance(d, dict) for d in doc):
            entry.kind = DataImport.Kind.OSV
            items = ((f"{path.name}[{n}]", json.dumps(d).encode(), "") for n, d in enumerate(doc))
            self._import_osv(entry, items, source=f"osv:{path.name}")
        else:
            raise InputError("JSON that is neither an OSV record nor a KEV catalogue")

    def _import_folder(self, folder: Path) -> None:
        others: list[Path] = []

        def items() -> Iterator[Item]:
            for path in _walk(folder):
                where = str(path.relative_to(folder))
                try:
                    if path.suffix.lower() != ".json" or _sniff(path) != "plain":
                        others.append(path)
                    elif path.stat().st_size > MAX_RECORD_BYTES:
                        others.append(path)  # a KEV catalogue or a list of records
                    elif b'"catalogVersion"' in _json_head(path):
                        others.append(path)
                    else:
                        yield where, path.read_bytes(), ""
                except OSError as exc:
                    yield where, None, f"cannot read: {exc.strerror or exc}"

        entry = self._input(folder)
        entry.kind = DataImport.Kind.OSV
        self._import_osv(entry, items(), source=f"osv:{folder.name}")
        if entry.added or entry.updated or entry.unchanged or entry.rejected or entry.removed:
            self._record(entry, "")
        else:
            self.report.inputs.remove(entry)  # a folder of KEV/EPSS/zip files only
        for path in others:
            self._import_file(path)

    def _record(self, entry: InputReport, digest: str) -> None:
        with transaction.atomic():
            DataImport.objects.create(
                kind=entry.kind,
                label=entry.label[:500],
                data_date=entry.data_date,
                added=entry.added,
                updated=entry.updated,
                unchanged=entry.unchanged,
                rejected=entry.rejected,
                removed=entry.removed,
                digest=digest,
                detail={"rejections": [list(r) for r in entry.rejections[:20]]},
            )
            if entry.changed:
                _bump_generation()

    # --- OSV ---

    def _import_osv(self, entry: InputReport, items: Iterable[Item], source: str) -> None:
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
            ts = _parse_ts(doc.get("modified")) if doc else None
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
            _upsert(Advisory, ADVISORY_COLUMNS, rows, key="id")
            replaced = [a.id for a in upserts if a.id in stored]
            if replaced:
                AffectedPackage.objects.filter(advisory_id__in=replaced).delete()
            _upsert(
                AffectedPackage, AFFECTED_COLUMNS, [r for a in upserts for r in _affected_rows(a)]
            )
            if gone:
                Advisory.objects.filter(id__in=gone).delete()
            if first_change[0]:
                # Also moved when the input is done: a crash in between still moves it.
                _bump_generation()
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


# --- KEV ----------------------------------------------------------------------------------


def _date(value: object) -> date | None:
    if not isinstance(value, str) or len(value) > 32:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _text(value: object, limit: int) -> str:
    return value.replace("\x00", "")[:limit] if isinstance(value, str) else ""


def _newest(kind: str) -> datetime | None:
    return (
        DataImport.objects.filter(kind=kind, data_date__isnull=False)
        .order_by("-data_date")
        .values_list("data_date", flat=True)
        .first()
    )


def _import_kev(entry: InputReport, doc: dict[str, Any]) -> None:
    """The catalogue replaces the stored one, unless it is older than it."""
    entries = doc.get("vulnerabilities")
    if not isinstance(entries, list):
        raise InputError("KEV catalogue without a list of vulnerabilities")
    released = _parse_ts(doc.get("dateReleased"))
    entry.data_date = released
    newest = _newest(DataImport.Kind.KEV)
    if released is not None and newest is not None and released < newest:
        entry.unchanged = len(entries)
        entry.rejections.append(("catalogue", f"older than the one imported ({newest:%Y-%m-%d})"))
        return
    rows: dict[str, KevEntry] = {}
    for n, item in enumerate(entries):
        cve = item.get("cveID") if isinstance(item, dict) else None
        added = _date(item.get("dateAdded")) if isinstance(item, dict) else None
        if not isinstance(cve, str) or not CVE_RE.fullmatch(cve) or added is None:
            entry.reject(f"vulnerabilities[{n}]", "no valid cveID and dateAdded")
            continue
        rows[cve] = KevEntry(
            cve=cve,
            vendor=_text(item.get("vendorProject"), 255),
            product=_text(item.get("product"), 255),
            name=_text(item.get("vulnerabilityName"), 500),
            date_added=added,
            due_date=_date(item.get("dueDate")),
            ransomware=item.get("knownRansomwareCampaignUse") == "Known",
            short_description=_text(item.get("shortDescription"), 10_000),
        )
    fields = ["vendor", "product", "name", "date_added", "due_date", "ransomware"]
    fields.append("short_description")
    stored = {k.cve: k for k in KevEntry.objects.all()}
    writes = [
        row
        for cve, row in rows.items()
        if cve not in stored or any(getattr(row, f) != getattr(stored[cve], f) for f in fields)
    ]
    gone = [cve for cve in stored if cve not in rows]
    with transaction.atomic():
        KevEntry.objects.bulk_create(
            writes, update_conflicts=True, unique_fields=["cve"], update_fields=fields
        )
        for start in range(0, len(gone), 1000):
            KevEntry.objects.filter(cve__in=gone[start : start + 1000]).delete()
    entry.added = sum(1 for row in writes if row.cve not in stored)
    entry.updated = len(writes) - entry.added
    entry.unchanged = len(rows) - len(writes)
    entry.removed = len(gone)


# --- EPSS ---------------------------------------------------------------------------------

_SCORE_DATE = re.compile(r"score_date:(\d{4}-\d{2}-\d{2})")


def _import_epss(entry: InputReport, data: bytes, path: Path) -> None:
    """The file's scores replace the stored ones, unless it is older than them."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("EPSS CSV is not UTF-8") from None
    lines = io.StringIO(text)
    first = lines.readline()
    header = first
    day: date | None = None
    line = 2  # of the first row
    if first.startswith("#"):
        line = 3
        found = _SCORE_DATE.search(first)
        day = _date(found.group(1)) if found else None
        header = lines.readline()
    if [h.strip().lower() for h in header.split(",")] != ["cve", "epss", "percentile"]:
        raise InputError("EPSS CSV without its header cve,epss,percentile")
    if day is None:  # older files have no comment line: the file's own date stands in
        day = datetime.fromtimestamp(path.stat().st_mtime, UTC).date()
    entry.data_date = datetime(day.year, day.month, day.day, tzinfo=UTC)
    newest = _newest(DataImport.Kind.EPSS)
    if newest is not None and entry.data_date < newest:
        entry.rejections.append(("file", f"older than the scores imported ({newest:%Y-%m-%d})"))
        return
    scores: dict[str, tuple[float, float]] = {}
    try:
        for n, row in enumerate(csv.reader(lines), start=line):
            if n > MAX_EPSS_ROWS:
                raise InputError(f"more than {MAX_EPSS_ROWS} rows")
            parsed = _epss_row(row)
            if parsed is None:
                entry.reject(f"line {n}", "not a CVE id with two numbers between 0 and 1")
            else:
                scores[parsed[0]] = parsed[1:]
    except csv.Error as exc:
        raise InputError(f"corrupt CSV: {exc}") from None
    _write_epss(entry, scores, day)


def _epss_row(row: list[str]) -> tuple[str, float, float] | None:
    if len(row) != 3 or not CVE_RE.fullmatch(row[0]):
        return None
    try:
        score, percentile = float(row[1]), float(row[2])
    except ValueError:
        return None
    if not (math.isfinite(score) and math.isfinite(percentile)):
        return None
    if not (0 <= score <= 1 and 0 <= percentile <= 1):
        return None
    return row[0], score, percentile


def _write_epss(entry: InputReport, scores: dict[str, tuple[float, float]], day: date) -> None:
    stored = {c: (s, p) for c, s, p in EpssScore.objects.values_list("cve", "score", "percentile")}
    writes = [
        EpssScore(cve=cve, score=s, percentile=p, scored_on=day)
        for cve, (s, p) in scores.items()
        if stored.get(cve) != (s, p)
    ]
    gone = [cve for cve in stored if cve not in scores]
    scored_on = connection.ops.adapt_datefield_value(day)
    rows = [(w.cve, w.score, w.percentile, scored_on) for w in writes]
    columns = ["cve", "score", "percentile", "scored_on"]
    for start in range(0, max(len(rows), len(gone)), 10_000):
        with transaction.atomic():
            _upsert(EpssScore, columns, rows[start : start + 10_000], key="cve")
            if gone[start : start + 10_000]:
                EpssScore.objects.filter(cve__in=gone[start : start + 10_000]).delete()
    entry.added = sum(1 for w in writes if w.cve not in stored)
    entry.updated = len(writes) - entry.added
    entry.unchanged = len(scores) - len(writes)
    entry.removed = len(gone)


# --- The drop folder (vulndb.tasks) -------------------------------------------------------

SETTLE_SECONDS = 30


def folder_fingerprint(folder: Path) -> tuple[str, float]:
    """A digest of the folder's data files' names, sizes and mtimes, and the newest mtime."""
    h = hashlib.sha256()
    newest = 0.0
    for path in _walk(folder):
        st = path.stat()
        newest = max(newest, st.st_mtime)
        h.update(f"{path.relative_to(folder)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest(), newest


def sync_drop_folder(folder: Path, now: float | None = None) -> ImportReport | None:
    """Import the folder if its files changed since the last time; None when they did not,
    or while a file is still being written (changed in the last 30 s)."""
    import time

    if not folder.is_dir():
        log.warning("POSTURE_VULNDB_DIR %s is not a folder", folder)
        return None
    fingerprint, newest = folder_fingerprint(folder)
    if (now if now is not None else time.time()) - newest < SETTLE_SECONDS:
        return None
    state, _ = DataState.objects.get_or_create(pk=1)
    previous = state.drop_fingerprint
    if previous == fingerprint:
        return None
    # The claim: of two workers seeing the same change, one imports it.
    claimed = DataState.objects.filter(pk=1, drop_fingerprint=previous).update(
        drop_fingerprint=fingerprint
    )
    if not claimed:
        return None
    try:
        report = import_paths([folder])
    except BaseException:
        DataState.objects.filter(pk=1, drop_fingerprint=fingerprint).update(
            drop_fingerprint=previous
        )
        raise
    for item in report.inputs:
        if item.error:
            log.warning("vulnerability data %s not imported: %s", item.label, item.error)
    return report

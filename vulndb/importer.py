"""Import vulnerability data files: OSV (a zip as published per ecosystem, a folder, one
file), the CISA KEV catalogue (JSON) and FIRST EPSS scores (CSV, gzipped or not).

Each input is recognised by its content, never its name. Files are untrusted: every read is
bounded, nothing is extracted to disk, a record that does not validate is refused whole (and
reported with its reason), and an input that cannot be read at all is an error for that input
only. OSV records are upserted by id and `modified`: a second import of the same data changes
nothing and does not move the data generation.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from django.db import transaction

from vulndb.inputs import (
    MAX_RECORD_BYTES,
    ImportReport,
    InputError,
    InputReport,
    Item,
    file_digest,
    json_head,
    loads,
    printable,
    read_file,
    sniff,
    text_kind,
    walk,
    zip_items,
)
from vulndb.kev_epss import import_epss, import_kev
from vulndb.models import DataImport, DataState, current_generation
from vulndb.osv_import import OsvImport, enrich_severity
from vulndb.upsert import bump_generation

__all__ = [
    "ImportReport",
    "InputError",
    "InputReport",
    "enrich_severity",
    "folder_fingerprint",
    "import_paths",
    "sync_drop_folder",
]

log = logging.getLogger(__name__)

# Parsed JSON costs ~25 bytes of objects per byte: a bigger list of records comes zipped.
MAX_JSON_BYTES = 32 * 2**20


def import_paths(
    paths: Sequence[Path], *, force: bool = False, workers: int | None = None
) -> ImportReport:
    """Import every path (file or folder). `force` reads a file already imported again;
    `workers` processes validate OSV records (None: one per CPU when it is safe to fork)."""
    report = ImportReport()
    session = _Session(report, force, OsvImport(workers))
    try:
        for path in paths:
            session.import_path(Path(path))
    finally:
        session.close()
    report.generation = current_generation()
    return report


class _Session:
    def __init__(self, report: ImportReport, force: bool, osv: OsvImport) -> None:
        self.report = report
        self.force = force
        self.osv = osv

    def close(self) -> None:
        self.osv.close()

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
            digest = file_digest(path)
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
        if sniff(path) == "zip":
            entry.kind = DataImport.Kind.OSV
            self.osv.import_records(entry, zip_items(path), source=f"osv:{path.name}")
            return
        data = read_file(path)
        kind = text_kind(data)
        if kind == "epss":
            entry.kind = DataImport.Kind.EPSS
            import_epss(entry, data, path)
        elif kind == "json":
            if len(data) > MAX_JSON_BYTES:
                raise InputError("JSON file over 32 MB: zip its records instead")
            try:
                doc = loads(data)
            except ValueError as exc:
                raise InputError(f"not JSON: {printable(str(exc))}") from None
            self._import_json(path, entry, doc, data)
        else:
            raise InputError("not OSV, KEV or EPSS data")

    def _import_json(self, path: Path, entry: InputReport, doc: Any, data: bytes) -> None:
        if isinstance(doc, dict) and "catalogVersion" in doc and "vulnerabilities" in doc:
            entry.kind = DataImport.Kind.KEV
            import_kev(entry, doc)
        elif isinstance(doc, dict) and "id" in doc:
            entry.kind = DataImport.Kind.OSV
            self.osv.import_records(entry, [(path.name, data, "")], source=f"osv:{path.name}")
        elif isinstance(doc, list) and all(isinstance(d, dict) for d in doc):
            entry.kind = DataImport.Kind.OSV
            items = ((f"{path.name}[{n}]", json.dumps(d).encode(), "") for n, d in enumerate(doc))
            self.osv.import_records(entry, items, source=f"osv:{path.name}")
        else:
            raise InputError("JSON that is neither an OSV record nor a KEV catalogue")

    def _import_folder(self, folder: Path) -> None:
        others: list[Path] = []

        def items() -> Iterator[Item]:
            for path in walk(folder):
                where = str(path.relative_to(folder))
                try:
                    if path.suffix.lower() != ".json" or sniff(path) != "plain":
                        others.append(path)
                    elif path.stat().st_size > MAX_RECORD_BYTES:
                        others.append(path)  # a KEV catalogue or a list of records
                    elif b'"catalogVersion"' in json_head(path):
                        others.append(path)
                    else:
                        yield where, path.read_bytes(), ""
                except OSError as exc:
                    yield where, None, f"cannot read: {exc.strerror or exc}"

        entry = self._input(folder)
        entry.kind = DataImport.Kind.OSV
        self.osv.import_records(entry, items(), source=f"osv:{folder.name}")
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
                bump_generation()


# --- The drop folder (vulndb.tasks) -------------------------------------------------------

SETTLE_SECONDS = 30


def folder_fingerprint(folder: Path) -> tuple[str, float]:
    """A digest of the folder's data files' names, sizes and mtimes, and the newest mtime."""
    h = hashlib.sha256()
    newest = 0.0
    for path in walk(folder):
        st = path.stat()
        newest = max(newest, st.st_mtime)
        h.update(f"{path.relative_to(folder)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest(), newest


def sync_drop_folder(folder: Path, now: float | None = None) -> ImportReport | None:
    """Import the folder if its files changed since the last time; None when they did not,
    or while a file is still being written (changed in the last 30 s)."""
    import time

    try:
        # Made on first use: a fresh deployment's volume has no such folder yet.
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("POSTURE_VULNDB_DIR %s: %s", folder, exc)
        return None
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

"""Importing the CISA KEV catalogue and FIRST EPSS scores: each file replaces what is stored,
unless it is older than it. Apart from the OSV pipeline: whole-file reads, no batches.
"""

from __future__ import annotations

import csv
import io
import math
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from django.db import connection, transaction

from vulndb.inputs import InputError, InputReport, parse_ts
from vulndb.models import DataImport, EpssScore, KevEntry
from vulndb.upsert import upsert

MAX_EPSS_ROWS = 2_000_000
CVE_RE = re.compile(r"CVE-\d{4}-\d{4,19}")

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


def import_kev(entry: InputReport, doc: dict[str, Any]) -> None:
    """The catalogue replaces the stored one, unless it is older than it."""
    entries = doc.get("vulnerabilities")
    if not isinstance(entries, list):
        raise InputError("KEV catalogue without a list of vulnerabilities")
    released = parse_ts(doc.get("dateReleased"))
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


def import_epss(entry: InputReport, data: bytes, path: Path) -> None:
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
            upsert(EpssScore, columns, rows[start : start + 10_000], key="cve")
            if gone[start : start + 10_000]:
                EpssScore.objects.filter(cve__in=gone[start : start + 10_000]).delete()
    entry.added = sum(1 for w in writes if w.cve not in stored)
    entry.updated = len(writes) - entry.added
    entry.unchanged = len(scores) - len(writes)
    entry.removed = len(gone)

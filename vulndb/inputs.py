"""Reading and recognising vulnerability data inputs, and the reports on them.

Files are untrusted: every read here is bounded and nothing is extracted to disk. Pure (no
Django), so the OSV, KEV and EPSS importers share one careful reader and one report shape.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# One OSV record is a few KB; the largest in the published data are well under 1 MB.
MAX_RECORD_BYTES = 5 * 2**20
# OSV's all.zip per ecosystem: Debian ~60,000 members, all ecosystems together ~500,000.
MAX_MEMBERS = 1_000_000
MAX_ARCHIVE_BYTES = 8 * 2**30  # declared uncompressed total of one zip
# A whole file read at once: KEV is ~1.5 MB, EPSS ~12 MB uncompressed (2025).
MAX_FILE_BYTES = 256 * 2**20
KEPT_REJECTIONS = 100
JSON_SUFFIXES = (".json", ".zip", ".csv", ".gz")

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
            self.rejections.append((printable(where), why))


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


def printable(text: str, limit: int = 200) -> str:
    """Names come from archives: no control characters in a report or a terminal."""
    clean = "".join(c if c.isprintable() else "?" for c in text[:limit])
    return clean + ("…" if len(text) > limit else "")


def sniff(path: Path) -> str:
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


def read_file(path: Path) -> bytes:
    """The file's payload, gunzipped when it is gzip."""
    try:
        if sniff(path) == "gzip":
            with gzip.open(path, "rb") as fh:
                return _read_bounded(fh, MAX_FILE_BYTES, "decompressed file")
        with path.open("rb") as fh:
            return _read_bounded(fh, MAX_FILE_BYTES, "file")
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise InputError(f"corrupt gzip: {exc}") from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}") from None


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(2**20), b""):
            h.update(chunk)
    return h.hexdigest()


def _unsafe_name(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0] or "\x00" in name


def zip_items(path: Path) -> Iterator[Item]:
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


def json_head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(65536)


def walk(folder: Path) -> Iterator[Path]:
    """Regular files in name order; hidden ones (partial downloads, .git) left out."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or not name.lower().endswith(JSON_SUFFIXES):
                continue
            path = Path(root, name)
            if path.is_file():
                yield path


def text_kind(data: bytes) -> str:
    head = data[:256].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith((b"{", b"[")):
        return "json"
    if head.startswith(b"#model_version") or head.lower().startswith(b"cve,epss"):
        return "epss"
    return ""


def loads(data: bytes) -> Any:
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    # ValueError covers bad JSON, bad UTF-8 and integers over Python's digit limit.


def parse_ts(value: object) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)

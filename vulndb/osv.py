"""OSV records (https://ossf.github.io/osv-schema/) into records.Advisory.

Pure (no Django). Records come from files an operator drops in, so they are hostile input:
validate() checks one against the official schema (vendored in schema/osv.json) after a cheap
bound on its size, and parse_osv() keeps only what Posture shows, capped, with a clear
InvalidRecord for what it refuses.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import cvss
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from vulndb.records import Advisory, Affected, Range, VulnSeverity

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "osv.json"

MAX_SUMMARY = 500
MAX_DETAILS = 8_000
MAX_REFERENCES = 50
MAX_ALIASES = 100
MAX_URL = 2_000
MAX_NAME = 200  # package names; Debian's and npm's longest are under 100
MAX_VERSION = 256  # as versions.MAX_VERSION_LENGTH
# Bounds checked before the schema walks a record. The largest real records (PyPI and npm
# advisories that list every affected release) hold a few thousand values.
MAX_NODES = 200_000
MAX_DEPTH = 32
MAX_STRING = 1_000_000

_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")
_URL_SCHEMES = ("https://", "http://")


class InvalidRecord(ValueError):
    """A record that is not OSV, or that Posture will not store; the message names the field."""


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    # Built on first use, not at import: a worker that never imports data never reads it.
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return Draft202012Validator(schema)


def validate(doc: Any) -> None:
    """Raise InvalidRecord unless doc is a bounded OSV record valid against the schema."""
    if not isinstance(doc, dict):
        raise InvalidRecord(f"record: expected a JSON object, got {type(doc).__name__}")
    _check_bounds(doc)
    error = best_match(_validator().iter_errors(doc))
    if error is not None:
        raise InvalidRecord(_describe(error))


def parse_osv(doc: Any) -> Advisory:
    """One validated OSV record as an Advisory. Withdrawn records parse too: the importer
    deletes what they name."""
    validate(doc)
    ident = doc["id"]
    if not _ID.fullmatch(ident):
        raise InvalidRecord(f"id: not an identifier: {ident[:40]!r}")
    severity, vector, score = _severity(doc)
    return Advisory(
        id=ident,
        modified=_time(doc, "modified"),
        published=_time(doc, "published") if "published" in doc else None,
        withdrawn=_time(doc, "withdrawn") if "withdrawn" in doc else None,
        aliases=_ids(doc.get("aliases"), ident),
        upstream=_ids(doc.get("upstream"), ident),
        summary=_text(doc.get("summary", ""), MAX_SUMMARY),
        details=_text(doc.get("details", ""), MAX_DETAILS),
        severity=severity,
        cvss_vector=vector,
        cvss_score=score,
        references=_references(doc.get("references")),
        affected=tuple(a for a in map(_affected, doc.get("affected") or ()) if a is not None),
    )


# --- bounds and schema errors ------------------------------------------------------------


def _check_bounds(doc: dict[str, Any]) -> None:
    # The schema validator recurses and matches patterns over whatever it is given; this walk
    # is iterative, so a record too deep or too large is refused before it costs more.
    stack: list[tuple[Any, int]] = [(doc, 0)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise InvalidRecord(f"record: more than {MAX_NODES} values")
        if depth > MAX_DEPTH:
            raise InvalidRecord(f"record: nested deeper than {MAX_DEPTH}")
        if isinstance(node, dict):
            for key, value in node.items():
                if len(key) > MAX_STRING:
                    raise InvalidRecord("record: a key longer than 1 MB")
                stack.append((value, depth + 1))
        elif isinstance(node, list):
            stack.extend((value, depth + 1) for value in node)
        elif isinstance(node, str) and len(node) > MAX_STRING:
            raise InvalidRecord("record: a string longer than 1 MB")


def _path(parts: Any) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + _text(str(part), 40)
    return out or "record"


def _describe(error: ValidationError) -> str:
    """A short message naming the field: schema messages quote the offending value, which
    can be megabytes of anything."""
    where = _path(error.absolute_path)
    kind = error.validator
    instance = error.instance
    if kind == "required":
        present = instance if isinstance(instance, dict) else {}
        missing = [name for name in error.validator_value if name not in present]
        return f"{where}: missing {', '.join(missing) or 'a required field'}"
    if kind == "type":
        expected = error.validator_value
        if isinstance(expected, list):
            expected = " or ".join(map(str, expected))
        return f"{where}: expected {expected}, got {_json_type(instance)}"
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = set(error.schema.get("properties", {}))
        unknown = sorted(_text(str(k), 40) for k in instance if k not in allowed)
        return f"{where}: unknown field {', '.join(unknown[:3])}"
    if kind == "pattern":
        return f"{where}: not in the form the schema requires"
    if kind == "enum":
        return f"{where}: not one of the values the schema allows"
    title = error.schema.get("title") if isinstance(error.schema, dict) else None
    return f"{where}: {_text(title, 120) if isinstance(title, str) else f'fails {kind}'}"


def _json_type(value: Any) -> str:
    for kind, name in ((bool, "boolean"), (str, "string"), (int, "number"), (float, "number")):
        if isinstance(value, kind):
            return name
    return {dict: "object", list: "array", type(None): "null"}.get(type(value), "value")


# --- fields ------------------------------------------------------------------------------


def _text(value: Any, limit: int) -> str:
    # NUL is refused by PostgreSQL text columns; the rest is escaped where it is shown.
    return value.replace("\x00", "")[:limit] if isinstance(value, str) else ""


def _time(doc: dict[str, Any], name: str) -> datetime:
    value = doc[name]
    # The schema's timestamp pattern is not anchored: a value passes it with text around it.
    if not isinstance(value, str) or not _TIME.fullmatch(value):
        raise InvalidRecord(f"{name}: not an RFC 3339 time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRecord(f"{name}: not a valid time") from exc
    return parsed.astimezone(UTC)


def _ids(values: Any, own: str) -> tuple[str, ...]:
    # Other databases' ids are shown and linked: an odd one is dropped, not the record.
    seen: dict[str, None] = {}
    for value in values or ():
        if isinstance(value, str) and value != own and _ID.fullmatch(value):
            seen.setdefault(value)
    return tuple(seen)[:MAX_ALIASES]


def _references(values: Any) -> tuple[str, ...]:
    urls: dict[str, None] = {}
    for ref in values or ():
        url = ref.get("url") if isinstance(ref, dict) else None
        # Shown as links: only web URLs, so a "javascript:" reference never becomes an href.
        if (
            isinstance(url, str)
            and len(url) <= MAX_URL
            and url.lower().startswith(_URL_SCHEMES)
            and not _CONTROL.search(url)
        ):
            urls.setdefault(url)
        if len(urls) == MAX_REFERENCES:
            break
    return tuple(urls)


def _clean(value: Any, limit: int) -> str | None:
    if not isinstance(value, str) or not value or len(value) > limit or _CONTROL.search(value):
        return None
    return value


def _affected(entry: Any) -> Affected | None:
    """An affected package, or None for one Posture cannot store or match (no package, a
    name no package manager would write)."""
    package = entry.get("package") if isinstance(entry, dict) else None
    if not isinstance(package, dict):
        return None  # GIT-only entries name a repository, not a package
    ecosystem = _clean(package.get("ecosystem"), MAX_NAME)
    name = _clean(package.get("name"), MAX_NAME)
    if ecosystem is None or name is None:
        return None
    ranges = tuple(r for r in map(_range, entry.get("ranges") or ()) if r is not None)
    versions = tuple(
        dict.fromkeys(v for v in entry.get("versions") or () if _clean(v, MAX_VERSION))
    )
    return Affected(ecosystem=ecosystem, name=name, ranges=ranges, versions=versions)


def _range(value: Any) -> Range | None:
    events: list[tuple[str, str]] = []
    for event in value.get("events") or ():
        # The schema lets an event carry fields beside its one kind.
        kind = next((k for k in _EVENT_KINDS if k in event), "")
        version = event.get(kind)
        if not kind or _clean(version, MAX_VERSION) is None:
            # Without one of its events a range says something else (a dropped "fixed" would
            # make every later version affected): the whole range goes.
            return None
        events.append((kind, version))
    return Range(type=value["type"], events=tuple(events))


# --- severity ----------------------------------------------------------------------------

_CVSS = {"CVSS_V4": cvss.CVSS4, "CVSS_V3": cvss.CVSS3, "CVSS_V2": cvss.CVSS2}
# Words that databases write in database_specific.severity (GHSA: LOW, MODERATE, HIGH,
# CRITICAL; Red Hat and SUSE: important) and in Ubuntu's own severity type.
_WORDS = {
    "critical": VulnSeverity.CRITICAL,
    "high": VulnSeverity.HIGH,
    "important": VulnSeverity.HIGH,
    "moderate": VulnSeverity.MEDIUM,
    "medium": VulnSeverity.MEDIUM,
    "low": VulnSeverity.LOW,
    "negligible": VulnSeverity.LOW,
    "unimportant": VulnSeverity.LOW,
}


def cvss_severity(kind: str, score: float) -> VulnSeverity:
    """The CVSS qualitative rating of a base score. CVSS v2 has no "critical" (NVD's v2
    scale stops at high). A 0.0 ("none") is LOW: VulnSeverity has no "none", and UNKNOWN
    would say the record gave no score."""
    if kind != "CVSS_V2" and score >= 9.0:
        return VulnSeverity.CRITICAL
    if score >= 7.0:
        return VulnSeverity.HIGH
    if score >= 4.0:
        return VulnSeverity.MEDIUM
    return VulnSeverity.LOW


def _severity(doc: dict[str, Any]) -> tuple[VulnSeverity, str, float | None]:
    """(severity, CVSS vector, base score): the newest CVSS version the record scores with,
    else Ubuntu's word, else database_specific.severity, else UNKNOWN."""
    entries = list(doc.get("severity") or ())
    if not entries:
        # The schema allows per-package severity only when the record has none of its own.
        for affected in doc.get("affected") or ():
            entries.extend(affected.get("severity") or ())
    for kind, parse in _CVSS.items():
        scored = []
        for entry in entries:
            if entry.get("type") != kind or not isinstance(entry.get("score"), str):
                continue
            try:
                vector = parse(entry["score"])
                score = float(vector.base_score if kind == "CVSS_V4" else vector.scores()[0])
            except (cvss.CVSSError, ValueError, ArithmeticError, IndexError, KeyError):
                continue
            scored.append((score, entry["score"][:MAX_URL]))
        if scored:
            score, text = max(scored)
            return cvss_severity(kind, score), text, score
    words = [e.get("score") for e in entries if e.get("type") == "Ubuntu"]
    specific = doc.get("database_specific")
    if isinstance(specific, dict):
        words.append(specific.get("severity"))
    for word in words:
        if isinstance(word, str) and word.strip().lower() in _WORDS:
            return _WORDS[word.strip().lower()], "", None
    return VulnSeverity.UNKNOWN, "", None

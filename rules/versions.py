"""The minimum-version table behind OWASP rule 0, which operators can update without a
release: `rules/data/minimum_versions.json` ships with Posture, and the JSON file
named by POSTURE_MIN_VERSIONS (same shape) replaces any of its top-level keys. The file is
re-read when it changes, so a new CVE can be added to a running fleet."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
SHIPPED = Path(__file__).with_name("data") / "minimum_versions.json"
_cache: dict[str, tuple[float, dict[str, Any]]] = {}


def _load(path: Path) -> dict[str, Any]:
    mtime = path.stat().st_mtime
    cached = _cache.get(str(path))
    if cached and cached[0] == mtime:
        return cached[1]
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the table must be a JSON object")
    _cache[str(path)] = (mtime, data)
    return data


def table() -> dict[str, Any]:
    data = dict(_load(SHIPPED))
    override = os.environ.get("POSTURE_MIN_VERSIONS")
    if override:
        try:
            data.update(_load(Path(override)))
        except (OSError, ValueError) as exc:
            # A broken override must not blind rule 0: keep the shipped table, say so.
            log.error("POSTURE_MIN_VERSIONS ignored: %s", exc)
    return data


def release(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def below_fixed(version: tuple[int, ...], entry: dict[str, Any]) -> bool | None:
    """True when `version` lacks the fix described by `entry`; None when the entry does not
    cover that line (neither known vulnerable nor known fixed)."""
    if "fixed" in entry:
        return version < release(entry["fixed"])
    lines = {release(k): release(v) for k, v in entry.get("fixed_per_line", {}).items()}
    if "introduced" in entry and version < release(entry["introduced"]):
        return False
    if "fixed_from" in entry and version >= release(entry["fixed_from"]):
        return False
    width = len(next(iter(lines))) if lines else 2  # "24" is a major line, "5.10" a minor
    line = version[:width]
    if line in lines:
        return version < lines[line]
    if lines and line > max(lines) and "fixed_from" not in entry:
        return False  # newer lines shipped fixed
    if "introduced" in entry or (lines and line < max(lines)):
        return True  # an affected line that never got the fix
    return None

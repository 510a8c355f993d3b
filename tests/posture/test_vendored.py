"""Vendored front-end files are the releases static/vendor/VENDORED.json names, byte for byte:
a file changed by hand, or replaced by another release, fails here until the record is
updated with the new release's published checksum."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

VENDOR = Path(__file__).resolve().parents[2] / "static" / "vendor"
RECORD: dict[str, dict[str, Any]] = json.loads((VENDOR / "VENDORED.json").read_text())


def test_every_vendored_file_is_recorded() -> None:
    files = sorted(p.name for p in VENDOR.iterdir() if p.is_file() and p.name != "VENDORED.json")
    assert files == sorted(RECORD)


@pytest.mark.parametrize("name", sorted(RECORD))
def test_the_file_is_the_recorded_release(name: str) -> None:
    data = (VENDOR / name).read_bytes()
    record = RECORD[name]
    assert hashlib.sha256(data).hexdigest() == record["sha256"]
    sri = "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()
    assert sri == record["sri"]
    assert record["source"].endswith(f"@{record['version']}/dist/{name}")


def test_htmx_says_its_version() -> None:
    version = RECORD["htmx.min.js"]["version"]
    assert f'version:"{version}"' in (VENDOR / "htmx.min.js").read_text()

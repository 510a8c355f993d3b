"""manage.py vulndb import | status, and vulndb.freshness.data_status behind it."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from lab.vulndata import demo_records, osv_record, write_demo, write_osv_zip
from vulndb.freshness import data_status

pytestmark = pytest.mark.django_db


def _run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("vulndb", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _fresh_records(days_old: int = 0) -> list[dict[str, Any]]:
    when = (timezone.now() - timedelta(days=days_old)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [{**r, "modified": when} for r in demo_records()]


def test_import_prints_counts_per_input(tmp_path: Path) -> None:
    zipped, kev, epss = write_demo(tmp_path)
    out, err = _run("import", str(zipped), str(kev), str(epss))
    assert f"{zipped} (OSV advisories): 16 added, 0 updated, 0 unchanged" in out
    assert f"{kev} (CISA KEV): 2 added" in out
    assert f"{epss} (FIRST EPSS): 10 added" in out
    assert err == ""
    again, _ = _run("import", str(zipped))
    assert "imported before, skipped" in again
    forced, _ = _run("import", "--force", str(zipped))
    assert "0 added, 0 updated, 16 unchanged" in forced


def test_import_prints_the_first_20_refusals(tmp_path: Path) -> None:
    bad = [osv_record(f"GHSA-bad{n}-xxxx-yyyy", affected="nope") for n in range(25)]
    path = write_osv_zip(tmp_path / "bad.zip", [*demo_records(), *bad])
    out, _ = _run("import", str(path))
    assert "16 added, 0 updated, 0 unchanged, 0 removed, 25 rejected" in out
    assert out.count("  refused ") == 20
    assert "refused GHSA-bad0-xxxx-yyyy.json: affected" in out
    assert "… and 5 more refused" in out


def test_an_unreadable_input_fails_the_command_after_the_others(tmp_path: Path) -> None:
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 truncated")
    good = write_osv_zip(tmp_path / "good.zip", demo_records())
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="1 input"):
        call_command("vulndb", "import", str(broken), str(good), stdout=out, stderr=err)
    assert f"{broken}: not imported: corrupt zip" in err.getvalue()
    assert "16 added" in out.getvalue()


def test_a_missing_path_fails_the_command(tmp_path: Path) -> None:
    with pytest.raises(CommandError):
        _run("import", str(tmp_path / "nowhere.zip"))


def test_status_without_data_warns_that_nothing_is_assessed() -> None:
    out, _ = _run("status")
    assert "OSV advisories: 0 records" in out
    assert "no vulnerability data: image vulnerabilities are not assessed" in out
    status = data_status()
    assert (status.has_osv, status.stale, status.age_days) == (False, False, None)


def test_status_with_fresh_data(tmp_path: Path) -> None:
    _run("import", str(write_osv_zip(tmp_path / "a.zip", _fresh_records(days_old=2))))
    out, _ = _run("status")
    assert "OSV advisories: 16 records, data of " in out
    assert "(2 days old)" in out
    assert "warning" not in out
    status = data_status()
    assert (status.has_osv, status.osv_count, status.age_days, status.stale) == (True, 16, 2, False)
    assert status.generation > 0


def test_status_warns_about_stale_data(tmp_path: Path, settings: Any) -> None:
    settings.POSTURE_VULNDB_MAX_AGE_DAYS = 7
    _run("import", str(write_osv_zip(tmp_path / "a.zip", _fresh_records(days_old=9))))
    out, _ = _run("status")
    assert "warning: OSV advisories data is 9 days old, older than 7" in out
    status = data_status()
    assert status.stale and status.stale_kinds == ("osv",)
    settings.POSTURE_VULNDB_MAX_AGE_DAYS = 10
    assert not data_status().stale


def test_status_counts_follow_each_import(tmp_path: Path) -> None:
    assert data_status().osv_count == 0
    zipped, kev, epss = write_demo(tmp_path)
    _run("import", str(zipped))
    assert data_status().osv_count == 16
    _run("import", str(kev), str(epss))
    status = data_status()
    assert (status.kev_count, status.epss_count) == (2, 10)
    assert status.newest["kev"] is not None and status.ages["epss"] is not None

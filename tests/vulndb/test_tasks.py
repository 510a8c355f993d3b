"""The drop folder: beat imports POSTURE_VULNDB_DIR once per change of its files."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.conf import settings as django_settings

from lab.vulndata import demo_kev, demo_records, write_demo, write_kev, write_osv_zip
from vulndb import importer, tasks
from vulndb.models import Advisory, DataState, KevEntry, current_generation

# The demo's OSV records (lab/vulndata.py grows as rules need real advisories).
N_OSV = len(demo_records())

pytestmark = pytest.mark.django_db


def _settle(folder: Path) -> None:
    """Files written a minute ago: past the time a copy may still be in progress."""
    past = time.time() - 60
    for path in folder.rglob("*"):
        os.utime(path, (past, past))


def test_beat_runs_the_task() -> None:
    entry = django_settings.CELERY_BEAT_SCHEDULE["vulndb-import-drop-folder"]
    assert entry["task"] == tasks.import_drop_folder.name
    assert entry["options"]["queue"] == "background"


def test_no_folder_configured_does_nothing(settings: Any) -> None:
    settings.POSTURE_VULNDB_DIR = ""
    with mock.patch.object(importer, "import_paths") as imports:
        assert tasks.import_drop_folder() == 0
    imports.assert_not_called()


def test_the_folder_is_imported_once_per_change(tmp_path: Path, settings: Any) -> None:
    """GIVEN a drop folder with OSV, KEV and EPSS files
    WHEN beat runs the task three times, then after a file changed, twice more
    THEN the folder is imported on the first run and after the change only."""
    settings.POSTURE_VULNDB_DIR = str(tmp_path)
    write_demo(tmp_path)
    _settle(tmp_path)
    real = importer.import_paths
    with mock.patch.object(importer, "import_paths", side_effect=real) as imports:
        assert tasks.import_drop_folder() == N_OSV + 2 + 10
        generation = current_generation()
        assert tasks.import_drop_folder() == 0
        assert tasks.import_drop_folder() == 0
        assert imports.call_count == 1

        write_kev(
            tmp_path / "known_exploited_vulnerabilities.json",
            demo_kev()[:1],
            released="2030-01-01T00:00:00Z",
        )
        _settle(tmp_path)
        assert tasks.import_drop_folder() == 1  # one KEV entry gone
        assert tasks.import_drop_folder() == 0
        assert imports.call_count == 2
    assert Advisory.objects.count() == N_OSV
    assert KevEntry.objects.count() == 1
    assert current_generation() > generation


def test_a_file_still_being_written_waits(tmp_path: Path, settings: Any) -> None:
    settings.POSTURE_VULNDB_DIR = str(tmp_path)
    write_osv_zip(tmp_path / "all.zip", demo_records())  # modified just now
    assert tasks.import_drop_folder() == 0
    assert not Advisory.objects.exists()
    _settle(tmp_path)
    assert tasks.import_drop_folder() == N_OSV


def test_a_broken_file_is_not_retried_until_it_changes(tmp_path: Path, settings: Any) -> None:
    settings.POSTURE_VULNDB_DIR = str(tmp_path)
    (tmp_path / "all.zip").write_bytes(b"PK\x03\x04 half a zip")
    _settle(tmp_path)
    with mock.patch.object(importer, "import_paths", side_effect=importer.import_paths) as imp:
        assert tasks.import_drop_folder() == 0
        assert tasks.import_drop_folder() == 0
    assert imp.call_count == 1


def test_a_failed_import_gives_the_change_back(tmp_path: Path, settings: Any) -> None:
    settings.POSTURE_VULNDB_DIR = str(tmp_path)
    write_demo(tmp_path)
    _settle(tmp_path)
    with (
        mock.patch.object(importer, "import_paths", side_effect=RuntimeError("killed")),
        pytest.raises(RuntimeError),
    ):
        tasks.import_drop_folder()
    assert DataState.objects.get(pk=1).drop_fingerprint == ""
    assert tasks.import_drop_folder() == N_OSV + 2 + 10


def test_a_missing_folder_is_made_and_a_file_in_its_place_is_logged_not_raised(
    tmp_path: Path, settings: Any
) -> None:
    settings.POSTURE_VULNDB_DIR = str(tmp_path / "absent")
    assert tasks.import_drop_folder() == 0
    assert (tmp_path / "absent").is_dir()
    (tmp_path / "a-file").write_text("not a folder")
    settings.POSTURE_VULNDB_DIR = str(tmp_path / "a-file")
    assert tasks.import_drop_folder() == 0

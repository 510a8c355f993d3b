"""A database built by the previous release upgrades to this one with its data and pages.

The previous release's tree (PREVIOUS, extracted with `git archive`) migrates a fresh
PostgreSQL database and seeds it with its own code; the current tree then migrates the same
database. Both describe it the same way (tests/system/ops/release.py): the same hosts,
findings, score history, scan runs and scores, and the fleet, a host's page and the trends
answer 200 and show the same hosts and open rules.

PostgreSQL only: it is the production database, and the migrations' DDL differs from
SQLite's; one run keeps the suite's time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
# The last commit before the session that added this test (git log --before=2026-12-07T19:55):
# the release operators run today. Move it forward at each release.
PREVIOUS = "cb17a23"
SCRIPT = Path(__file__).with_name("release.py")

pytestmark = [
    pytest.mark.skipif(
        not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
        reason="the upgrade is proven on PostgreSQL (the PostgreSQL run)",
    ),
    pytest.mark.skipif(
        shutil.which("git") is None or not (ROOT / ".git").exists(),
        reason="needs the git history to extract the previous release",
    ),
]


def previous_tree(into: Path) -> Path:
    """The previous release's files, as its own checkout would have them."""
    into.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", PREVIOUS],
        check=True,
        capture_output=True,
        timeout=60,
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True, timeout=60)
    return into


def describe(side: str, tree: Path, database: str, data_dir: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), side],
        cwd=tree,
        env={
            **os.environ,
            "PYTHONPATH": str(tree),
            "DJANGO_SETTINGS_MODULE": "posture.settings",
            "POSTURE_DB_ENGINE": "postgres",
            "POSTURE_DB_NAME": database,
            "POSTURE_DATA_DIR": str(data_dir),
            "POSTURE_LOG_LEVEL": "WARNING",
        },
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, f"{side}:\n{result.stderr[-4000:]}"
    sys.stderr.write(result.stderr)
    return json.loads(result.stdout.splitlines()[-1])


def test_the_previous_release_upgrades_with_its_data_and_pages(
    fresh_database: str, tmp_path: Path
) -> None:
    old = previous_tree(tmp_path / "previous")
    data_dir = tmp_path / "data"  # shared: the same machine, upgraded in place
    (data_dir / "static").mkdir(parents=True)  # STATIC_ROOT: whitenoise warns without it

    before = describe("before", old, fresh_database, data_dir)
    after = describe("after", ROOT, fresh_database, data_dir)

    assert before["data"]["hosts"] and before["data"]["findings_open"]
    assert after["data"] == before["data"]
    assert after["pages"] == before["pages"]
    assert {page["status"] for page in after["pages"].values()} == {200}
    assert after["pages"]["fleet"]["shows"] == [h[0] for h in before["data"]["hosts"]]
    assert after["pages"]["host"]["shows"]

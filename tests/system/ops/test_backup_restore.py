"""A backup restores into a fresh database with everything, and keys decide the credentials.

The procedure of docs/OPERATIONS.md, with its real tools: `pg_dump --format=custom` of the
live database and `pg_restore` into a database created for the occasion on the same lab
cluster (PostgreSQL run), or `sqlite3 … ".backup …"` (SQLite run). A fresh process, as on a
rebuilt machine, reads the restored database with the saved key files: the same hosts,
findings, history and scores, and credentials a worker can open. Without the private keys
they stay sealed, with an error that says why.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from posture.lib import crypto
from tests.factories import (
    FindingFactory,
    HostFactory,
    HostPostureFactory,
    ScanRunFactory,
    ScoreSampleFactory,
)
from tests.system.ops.restored import summary

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(settings.BASE_DIR)
POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


@pytest.fixture
def keys(settings: Any) -> dict[str, str]:
    """The deployment's own key pair, as an operator keeps it in files beside the dump."""
    private, public = crypto.generate_pair()
    settings.CREDENTIALS_PUBLIC_KEY = public
    settings.CREDENTIALS_PRIVATE_KEYS = [private]
    return {"POSTURE_CREDENTIALS_PUBLIC_KEY": public, "POSTURE_CREDENTIALS_PRIVATE_KEYS": private}


@pytest.fixture
def fleet(keys: dict[str, str]) -> None:
    """Three hosts (TLS and SSH keys sealed), a month of history, open and resolved findings."""
    now = timezone.now()
    tls, _ = HostFactory.with_tls_credentials(name="tls-01", labels={"team": "pay"})
    ssh, _ = HostFactory.with_ssh_credentials(name="ssh-01", labels={"env": "prod"})
    plain = HostFactory(name="local-01")
    for i, host in enumerate((tls, ssh, plain)):
        HostPostureFactory(host=host, score=60 + 10 * i, grade="CBA"[i])
        for day in range(30):
            taken = now - timedelta(days=day)
            ScanRunFactory(host=host, status="succeeded", finished_at=taken)
            ScoreSampleFactory(host=host, taken_at=taken, score=50 + day % 40)
        FindingFactory(host=host, rule_id="CTR-PRIVILEGED", subject_key=f"c{i}")
        FindingFactory(
            host=host,
            rule_id="CTR-MEMORY-LIMIT",
            subject_key=f"r{i}",
            opened_at=now - timedelta(days=20),
            resolved_at=now - timedelta(days=3),
        )


def restored(env: dict[str, str], data_dir: Path, others: dict[str, Any]) -> dict[str, Any]:
    """The summary a fresh process computes from the restored database with these keys
    (and the credentials as `others`' key settings would open them)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("POSTURE_CREDENTIALS")}
    result = subprocess.run(
        [sys.executable, "-m", "tests.system.ops.restored"],
        cwd=ROOT,
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "posture.settings",
            "POSTURE_DATA_DIR": str(data_dir),  # a new machine: no embedded key files
            "POSTURE_LOG_LEVEL": "WARNING",
            "POSTURE_OPS_OTHER_KEYS": json.dumps(others),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def check_restore(before: dict[str, Any], db_env: dict[str, str], keys: dict[str, str]) -> None:
    """The restored database read with the saved keys, with the web's (public key only), and
    with new keys generated after the key files were lost."""
    new_private, new_public = crypto.generate_pair()
    others = {
        "the public key only": [keys["POSTURE_CREDENTIALS_PUBLIC_KEY"], ""],
        "new keys": [new_public, new_private],
    }
    with tempfile.TemporaryDirectory() as machine:
        after = restored({**db_env, **keys}, Path(machine), others)
    before = json.loads(json.dumps(before, default=str))  # tuples as lists, as JSON has them

    assert {k: v for k, v in after.items() if not k.startswith("credentials with")} == before
    assert before["credentials"].keys() == {"tls-01", "ssh-01"}
    assert not any(v.startswith("error") for v in before["credentials"].values())
    assert set(after["credentials with the public key only"].values()) == {
        f"error: {crypto.NO_PRIVATE_KEY}"
    }
    for message in after["credentials with new keys"].values():
        assert message.startswith("error: stored credential is sealed under key ")
        assert "not among POSTURE_CREDENTIALS_PRIVATE_KEYS" in message


@pytest.mark.skipif(not POSTGRES, reason="pg_dump / pg_restore: the PostgreSQL run")
@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump is not installed")
def test_pg_dump_restores_into_a_fresh_database(
    fleet: None, keys: dict[str, str], fresh_database: str, tmp_path: Path
) -> None:
    """GIVEN a seeded fleet with sealed credentials, WHEN it is dumped with pg_dump's custom
    format and restored with pg_restore into a new database, THEN a new process with the
    saved keys reads the same data and opens the credentials; without them, it cannot."""
    db = settings.DATABASES["default"]
    dump = tmp_path / "posture.dump"
    tools_env = {**os.environ, "PGPASSWORD": db["PASSWORD"] or ""}
    conn = ["--host", db["HOST"], "--port", str(db["PORT"]), "--username", db["USER"]]
    before = summary()

    subprocess.run(
        [
            "pg_dump",
            *conn,
            "--format=custom",
            "--file",
            str(dump),
            connection.settings_dict["NAME"],
        ],
        check=True,
        env=tools_env,
        timeout=120,
    )
    subprocess.run(
        [
            "pg_restore",
            *conn,
            "--no-owner",
            "--exit-on-error",
            "--dbname",
            fresh_database,
            str(dump),
        ],
        check=True,
        env=tools_env,
        timeout=120,
    )

    check_restore(before, {"POSTURE_DB_NAME": fresh_database}, keys)


@pytest.mark.skipif(POSTGRES, reason="sqlite3 .backup: the SQLite run")
@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="the sqlite3 shell is not installed")
def test_sqlite_backup_restores_on_a_new_machine(
    fleet: None, keys: dict[str, str], tmp_path: Path
) -> None:
    """GIVEN the same fleet on SQLite, WHEN the sqlite3 shell's .backup copies the live
    database (WAL included, while it may be written), THEN the copy is consistent and a new
    process with the saved keys reads the same data and opens the credentials."""
    backup = tmp_path / "posture-backup.sqlite3"
    before = summary()

    subprocess.run(
        ["sqlite3", connection.settings_dict["NAME"], f".backup '{backup}'"],
        check=True,
        timeout=60,
    )

    with sqlite3.connect(backup) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    check_restore(before, {"POSTURE_DB_ENGINE": "sqlite", "POSTURE_DB_NAME": str(backup)}, keys)

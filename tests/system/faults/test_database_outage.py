"""PostgreSQL stopped in the middle of a scan, then started again.

GIVEN a database cluster of this test's own (a copy of the test database: stopping the
suite's cluster would stop every other test), a real gunicorn web, a real worker on Redis
and a simulated daemon slow enough that a scan takes seconds
WHEN the cluster stops while the scan runs, and starts again a few seconds later
THEN while it is down the web answers a 503 page that says so (no stack trace), /readyz
names the database as down and /healthz still answers; once it is back the scan ends by
itself — interrupted and re-run, or completed — the picture is the succeeded run's and
nothing is half-written (one score sample per succeeded run, no run left active).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests
from django.conf import settings
from django.db import connection

from lab.process import free_port
from lab.services import LabPostgres
from lab.sim_engine import SimEngine, SimSpec
from tests.system.faults.outage import assert_database_down_answers
from tests.system.faults.processes import ROOT, Service, service_env, wait_for

pytestmark = [
    pytest.mark.celery,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="a PostgreSQL restart: the PostgreSQL run only",
    ),
]
DB = "posture_faults"
PASSWORD = "pw-of-the-outage-test"
SETUP = """
import django, sys
django.setup()
from hosts.models import Host
from scans import services
from tests.factories import UserFactory
UserFactory(username="admin", password=sys.argv[2])
host = Host.objects.create(name="db-outage", endpoint=sys.argv[1])
scan, _ = services.request_scan(host)
print(scan.pk)
"""


@pytest.fixture
def own_cluster() -> Iterator[LabPostgres]:
    """A cluster of this test's own holding a copy of the (empty, migrated) test database."""
    cluster = LabPostgres("faults-pg", port=free_port()).start()
    source = connection.settings_dict
    with psycopg.connect(cluster.info.url.rsplit("/", 1)[0] + "/posture", autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {DB}")
        c.execute(f"CREATE DATABASE {DB} OWNER posture")
    dump = subprocess.run(
        [_pg("pg_dump"), "-h", source["HOST"], "-p", str(source["PORT"]), "-U", source["USER"]]
        + ["--no-owner", source["NAME"]],
        capture_output=True,
        check=True,
    )
    subprocess.run(
        [_pg("psql"), "-q", "-h", cluster.host, "-p", str(cluster.port), "-U", "posture", DB],
        input=dump.stdout,
        capture_output=True,
        check=True,
    )
    try:
        yield cluster
    finally:
        cluster.stop()


def _pg(program: str) -> str:
    return shutil.which(program) or sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{program}"))[-1]


def _query(cluster: LabPostgres, sql: str) -> list[tuple[object, ...]]:
    url = f"postgresql://posture@{cluster.host}:{cluster.port}/{DB}"
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def _login(base: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    answer = session.post(
        f"{base}/login/",
        data={
            "username": "admin",
            "password": "pw-of-the-outage-test",
            "csrfmiddlewaretoken": token[1],
        },
        headers={"Referer": f"{base}/login/"},
        timeout=10,
    )
    assert session.get(f"{base}/", timeout=10).status_code == 200, answer.text[:500]
    return session


def test_database_restart_mid_scan(broker: str, own_cluster: LabPostgres, tmp_path: Path) -> None:
    env = service_env(
        broker, POSTURE_DB_HOST=own_cluster.host, POSTURE_DB_PORT=str(own_cluster.port)
    )
    env |= {"POSTURE_DB_NAME": DB, "DJANGO_SETTINGS_MODULE": "posture.settings"}
    spec = SimSpec(hosts=1, containers=40, images=2, latency_ms=80, directory=str(tmp_path / "sim"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web_log = (tmp_path / "web.log").open("wb")
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "posture.wsgi", "--bind", f"127.0.0.1:{port}"]
        + ["--workers", "1", "--threads", "4"],
        cwd=ROOT,
        env=env,
        stdout=web_log,
        stderr=subprocess.STDOUT,
    )
    worker = Service("worker", "dbw", env, tmp_path)
    try:
        with SimEngine(spec) as sim:
            made = subprocess.run(
                [sys.executable, "-c", SETUP, sim.hosts[0]["url"], PASSWORD],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
            )
            assert made.returncode == 0, made.stderr[-2000:]
            scan_id = int(made.stdout.split()[-1])
            wait_for(lambda: _answers(f"{base}/healthz"), 30, "the web to answer")
            browser = _login(base)
            worker.start()
            wait_for(
                lambda: (
                    _query(own_cluster, f"SELECT status FROM scans_scanrun WHERE id={scan_id}")
                    == [("running",)]
                ),
                60,
                "the worker to start the scan",
            )
            time.sleep(0.5)
            own_cluster.stop()
            try:
                page = browser.get(f"{base}/", timeout=10)
                ready = requests.get(f"{base}/readyz", timeout=10)
                alive = requests.get(f"{base}/healthz", timeout=10)
                time.sleep(3)  # the outage outlives the scan's remaining reads
            finally:
                own_cluster.start()
            assert_database_down_answers(page, ready, alive)

            wait_for(
                lambda: (
                    _query(
                        own_cluster, "SELECT count(*) FROM scans_scanrun WHERE status='succeeded'"
                    )
                    == [(1,)]
                ),
                60,
                "the scan to end by itself once the database is back",
                every=0.5,
            )
            assert requests.get(f"{base}/readyz", timeout=10).json() == {
                "database": "ok",
                "broker": "ok",
            }
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n== worker\n{worker.tail()}") from None
    finally:
        worker.stop()
        web.terminate()
        web.wait(timeout=20)
        web_log.close()

    runs = dict(_query(own_cluster, "SELECT id, status FROM scans_scanrun"))
    assert runs[scan_id] in ("succeeded", "interrupted"), runs
    if runs[scan_id] == "interrupted":
        assert sorted(runs.values()) == ["interrupted", "succeeded"]
    (succeeded,) = [pk for pk, status in runs.items() if status == "succeeded"]
    # The picture is the succeeded run's, written once: nothing half-written by the first.
    assert _query(own_cluster, "SELECT current_scan_id FROM scans_hostposture") == [(succeeded,)]
    assert _query(own_cluster, "SELECT count(*) FROM scans_scoresample") == [(1,)]
    opened = _query(own_cluster, "SELECT DISTINCT opened_scan_id FROM scans_finding")
    assert opened == [(succeeded,)]


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False

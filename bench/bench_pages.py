"""Page latency at fleet scale: every main page under concurrent load, beside a floor.

    python bench/bench_pages.py --hosts 1000 --findings 1000000 --concurrency 1,8,25u --duration 10

Seeds a dedicated database posture_bench_pages on the lab PostgreSQL cluster (the one
`python -m lab services` starts; never the dev or test database) with N hosts
(env / team / region labels), their current picture (HostPosture with a rule summary),
~50 containers and 5 images each, 90 days of scores (4 samples a day, every 15 minutes
today; the last 30 days also as ScanRuns, as retention keeps them), and F findings: ~10 %
open, the rest resolved history, rules weighted by how often such rules fail in real
fleets. Rows go in with COPY; then the product's own derived tables are built by its own
code (the hosts' RuleContribution rows by findings.tallies, the daily score / finding /
rule rollups by trends.rollup) and VACUUM ANALYZE.

Then serves the app with gunicorn on a free loopback port (--workers 4 --threads 2:
scripts/run's shape), signs a user in through the login form, and loads each
page for --duration seconds after a short warm-up: a level "8" is wrk in a closed loop
(8 connections, each sending its next request as soon as the last one is answered), a
level "25u" is 25 users (threads of this script, http.client) pausing --think-ms on
average (exponentially distributed) between an answer and their next click. The floor is /healthz
under the same load in the same run: the same gunicorn, middleware and wrk, no database.
--runs R repeats the whole pass; each figure is the best run's (lowest p95).

--explain prints, per page, the statements of one in-process request with their time, and
EXPLAIN ANALYZE for each one slower than --explain-ms. --reuse-db keeps a database that
already holds the asked-for rows (seeding takes minutes); --keep-db leaves it at the end.
Prints markdown; writes nothing into the repository.
"""

# ruff: noqa: E402  (the repository root must be on sys.path before the project imports)
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import http.cookiejar
import itertools
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lab.process import free_port, terminate, wait_until
from lab.services import LabPostgres

DB_NAME = "posture_bench_pages"
USERNAME = "bench"
PASSWORD = "bench-pages-password-1"
CONTAINERS = 50
IMAGES = 5
HISTORY_DAYS = 90
SAMPLES_PER_DAY = 4  # past days; today is sampled every 15 minutes, as production scans
RETENTION_DAYS = 30  # ScanRuns older than this are pruned in production
OPEN_SHARE = 0.1
TARGET_MS = 150
# How often a rule fails, relative to the others: resource limits, read-only root
# filesystems, health checks and unpinned images fail on most hosts; critical rules rarely.
COMMON = {
    "CTR-MEMORY-LIMIT": 12,
    "CTR-CPU-LIMIT": 12,
    "CTR-PIDS-LIMIT": 12,
    "CTR-READONLY-ROOTFS": 10,
    "CTR-HEALTHCHECK": 10,
    "CTR-USER": 8,
    "CTR-CAP-DROP": 8,
    "CTR-NO-NEW-PRIVILEGES": 8,
    "CTR-IMAGE-NOT-PINNED": 6,
    "CTR-RESTART-POLICY": 4,
    "CTR-DEFAULT-BRIDGE": 4,
}
SEVERITY_WEIGHT = {0: 1.0, 1: 1.5, 2: 1.0, 3: 0.5, 4: 0.05}
WRK_LUA = """
wrk.path = os.getenv("WRK_PATH")
wrk.headers["Cookie"] = os.getenv("WRK_COOKIE")
if os.getenv("WRK_HX") == "1" then wrk.headers["HX-Request"] = "true" end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "p50": %d, "p95": %d, "p99": %d,'
    .. ' "max": %d, "non2xx": %d, "errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- Seeding --------------------------------------------------------------------------------


def copy_rows(model: Any, rows: Iterable[dict[str, Any]]) -> int:
    """Insert rows (dicts by field attname; missing fields take their model default):
    COPY on PostgreSQL, batched executemany elsewhere (the SQLite test database)."""
    from django.db import connection, models

    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return 0
    rows = itertools.chain([first], rows)
    # An auto primary key the rows leave out is the sequence's to fill.
    auto = model._meta.pk if model._meta.pk.attname not in first else None
    fields = [f for f in model._meta.concrete_fields if f is not auto]
    defaults = {f.attname: f.get_default() for f in fields}
    json_fields = {f.attname for f in fields if isinstance(f, models.JSONField)}
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    count = 0
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        with (
            connection.connection.cursor() as cur,
            cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                values = []
                for f in fields:
                    value = row.get(f.attname, defaults[f.attname])
                    if f.attname in json_fields and value is not None:
                        value = json.dumps(value)
                    values.append(value)
                copy.write_row(values)
                count += 1
        return count
    marks = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
    batch: list[list[Any]] = []
    with connection.cursor() as cursor:
        for row in rows:
            values = [
                f.get_db_prep_save(row.get(f.attname, defaults[f.attname]), connection)
                for f in fields
            ]
            batch.append(values)
            count += 1
            if len(batch) == 1000:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
    return count


def reset_sequences(*models: Any) -> None:
    from django.core.management.color import no_style
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), list(models)):
            cursor.execute(sql)


def next_id(model: Any) -> int:
    from django.db.models import Max

    return (model.objects.aggregate(m=Max("pk"))["m"] or 0) + 1


@dataclass
class HostPlan:
    id: int
    index: int
    name: str
    ssh: bool
    state: str  # ok | error | scanning | stale | never
    base: float  # its score level
    open: dict[tuple[str, str, str], str]  # (rule, kind, key) -> subject name
    container_keys: list[tuple[str, str]]
    image_keys: list[tuple[str, str]]


def grade_of(score: int, critical: int) -> str:
    grade = next(
        (g for g, floor in (("A", 90), ("B", 80), ("C", 70), ("D", 60)) if score >= floor), "F"
    )
    return "D" if critical and grade in "ABC" else grade


def host_state(i: int) -> str:
    # A realistic mix for the status filters and header counters: 1 % never scanned,
    # 1 % scanning, 2 % failing to scan, 1 % stale; the rest answered their last scan.
    return {99: "never", 13: "scanning", 7: "error", 57: "error", 42: "stale"}.get(i % 100, "ok")


def seed(
    hosts: int, findings: int, now: dt.datetime | None = None, rng_seed: int = 5
) -> dict[str, Any]:
    """Seed the current database; returns rows per table and seconds per step."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from alerts.models import Notification, Subscription
    from findings.models import Container, Finding, HostPosture, Image, ScoreSample
    from hosts.models import Host
    from rules import REGISTRY
    from rules.base import Scope, Source
    from scans.models import ScanRun
    from trends.rollup import rollup_scores

    rng = random.Random(rng_seed)
    now = now or timezone.now()
    today0 = now.replace(hour=0, minute=0, second=0, microsecond=0)
    timings: dict[str, float] = {}
    counts: dict[str, int] = {}
    rules = sorted(REGISTRY.values(), key=lambda r: r.id)
    weights = [COMMON.get(r.id, SEVERITY_WEIGHT[int(r.severity)]) for r in rules]
    evidence = {r.id: [{"field": f"{r.id.lower()}.setting", "value": "not set"}] for r in rules}

    def step(name: str, model: Any, rows: Iterable[dict[str, Any]]) -> None:
        began = time.perf_counter()
        counts[name] = copy_rows(model, rows)
        timings[name] = time.perf_counter() - began

    # Hosts and the plan of what fails where.
    host_base = next_id(Host)
    plans: list[HostPlan] = []
    for i in range(hosts):
        plan = HostPlan(
            id=host_base + i,
            index=i,
            name=f"node-{i:04d}",
            ssh=i % 3 == 0,
            state=host_state(i),
            base=min(98.0, max(35.0, rng.gauss(76, 12))),
            open={},
            container_keys=[
                (f"{rng.getrandbits(256):064x}", f"svc-{i:04d}-{c:02d}") for c in range(CONTAINERS)
            ],
            image_keys=[
                (f"sha256:{rng.getrandbits(256):064x}", f"registry.example.org/app{m}:1.{i % 7}")
                for m in range(IMAGES)
            ],
        )
        plans.append(plan)
    scanned = [p for p in plans if p.state != "never"]
    open_target = int(findings * OPEN_SHARE)
    for plan in scanned:
        # Weaker hosts carry more open findings; the mean lands on open_target.
        want = max(1, round(open_target / len(scanned) * (100 - plan.base) / 24))
        for _attempt in range(want * 3):
            if len(plan.open) >= want:
                break
            rule = rng.choices(rules, weights)[0]
            if rule.source is Source.SSH and not plan.ssh:
                continue
            if rule.scope is Scope.CONTAINER:
                key, name = rng.choice(plan.container_keys)
            elif rule.scope is Scope.IMAGE:
                key, name = rng.choice(plan.image_keys)
            else:
                key, name = "", ""
            plan.open[(rule.id, rule.scope.value, key)] = name
    severity = {r.id: int(r.severity) for r in rules}

    def host_rows() -> Iterator[dict[str, Any]]:
        envs, teams = (
            ("prod", "prod", "staging", "dev"),
            ("web", "data", "payments", "search", "ml", "infra", "mobile", "ops"),
        )
        for p in plans:
            yield {
                "id": p.id,
                "name": p.name,
                "endpoint": (
                    f"ssh://deploy@{p.name}.example.org:22"
                    if p.ssh
                    else f"tcp://{p.name}.example.org:2376"
                ),
                "labels": {
                    "env": envs[p.index % 4],
                    "team": teams[(p.index // 4) % 8],
                    "region": ("eu-west", "us-east", "ap-south")[p.index % 3],
                },
                "owner_email": f"team-{teams[(p.index // 4) % 8]}@example.org",
                "scan_interval": 15,
                "next_scan_at": now + dt.timedelta(minutes=p.index % 15),
                "created_at": now - dt.timedelta(days=400),
                "updated_at": now - dt.timedelta(days=1),
            }

    step("hosts", Host, host_rows())

    # Scores: 4 a day for 90 days, every 15 minutes today; ScanRuns for the last 30 days.
    run_base, sample_base = next_id(ScanRun), next_id(ScoreSample)
    last_run: dict[int, tuple[int, dt.datetime, int, str]] = {}
    runs: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    for p in scanned:
        failing = {s: len({r for (r, _k, _s) in p.open if severity[r] == s}) for s in (1, 2, 3, 4)}
        stop = now - dt.timedelta(days=3) if p.state == "stale" else now
        times = [
            today0
            - dt.timedelta(days=d)
            + dt.timedelta(hours=h * 24 / SAMPLES_PER_DAY, minutes=p.index % 15)
            for d in range(HISTORY_DAYS - 1, 0, -1)
            for h in range(SAMPLES_PER_DAY)
        ]
        t = today0 + dt.timedelta(minutes=p.index % 15)
        while t < now:
            times.append(t)
            t += dt.timedelta(minutes=15)
        drift = rng.uniform(-0.1, 0.1)
        for t in times:
            if t > stop:
                break
            days_ago = (now - t).days
            score = round(min(100, max(0, p.base - drift * days_ago + rng.gauss(0, 1.5))))
            grade = grade_of(score, failing[4])
            run_id = None
            if days_ago < RETENTION_DAYS:
                run_id = run_base + len(runs)
                runs.append(
                    {
                        "id": run_id,
                        "host_id": p.id,
                        "status": "succeeded",
                        "requested_at": t,
                        "started_at": t,
                        "finished_at": t + dt.timedelta(seconds=2),
                        "duration_ms": 2000,
                        "engine_version": "27.3.1",
                        "api_version": "1.47",
                        "catalogue_version": "1",
                        "containers": CONTAINERS,
                        "images": IMAGES,
                        "score": score,
                        "grade": grade,
                        "cycle": t,
                        "attempts": 1,
                    }
                )
                last_run[p.id] = (run_id, t, score, grade)
            samples.append(
                {
                    "id": sample_base + len(samples),
                    "host_id": p.id,
                    "scan_id": run_id,
                    "taken_at": t,
                    "score": score,
                    "grade": grade,
                    "failing_critical": failing[4],
                    "failing_high": failing[3],
                    "failing_medium": failing[2],
                    "failing_low": failing[1],
                }
            )
    # The failed, running and stale hosts' last attempts.
    attempts: dict[int, int] = {}
    for p in scanned:
        if p.state in ("error", "scanning", "stale"):
            run_id = attempts[p.id] = run_base + len(runs)
            failed = p.state != "scanning"
            runs.append(
                {
                    "id": run_id,
                    "host_id": p.id,
                    "status": "failed" if failed else "running",
                    "requested_at": now - dt.timedelta(minutes=4),
                    "started_at": now - dt.timedelta(minutes=4),
                    "finished_at": now - dt.timedelta(minutes=3) if failed else None,
                    "error_class": "unreachable" if failed else "",
                    "error_detail": "connection refused" if failed else "",
                    "lease_until": None if failed else now + dt.timedelta(minutes=10),
                    "attempts": 1,
                }
            )
    step("scan runs", ScanRun, runs)
    step("score samples", ScoreSample, samples)
    del samples

    def posture_rows() -> Iterator[dict[str, Any]]:
        for p in scanned:
            run_id, at, score, grade = last_run.get(
                p.id, (None, now - dt.timedelta(days=3), 70, "C")
            )
            fails: dict[str, int] = {}
            for rule_id, _kind, _key in p.open:
                fails[rule_id] = fails.get(rule_id, 0) + 1
            summary: dict[str, Any] = {}
            for rule in rules:
                n = {Scope.CONTAINER: CONTAINERS, Scope.IMAGE: IMAGES}.get(rule.scope, 1)
                entry = {
                    "pass": 0,
                    "fail": 0,
                    "na": 0,
                    "unknown": 0,
                    "manual": 0,
                    "causes": {},
                    "reasons": [],
                }
                if rule.source is Source.SSH and not p.ssh:
                    entry.update(
                        unknown=1, causes={"no_ssh": 1}, reasons=["The host has no SSH access."]
                    )
                else:
                    entry.update(fail=fails.get(rule.id, 0), **{"pass": n - fails.get(rule.id, 0)})
                summary[rule.id] = entry
            failing = {s: len({r for r in fails if severity[r] == s}) for s in (1, 2, 3, 4)}
            error = p.state == "error"
            yield {
                "host_id": p.id,
                "current_scan_id": run_id,
                "score": score,
                "grade": grade,
                "failing_critical": failing[4],
                "failing_high": failing[3],
                "failing_medium": failing[2],
                "failing_low": failing[1],
                "rules_assessed": sum(1 for e in summary.values() if e["pass"] + e["fail"]),
                "rules_unknown": sum(1 for e in summary.values() if e["unknown"]),
                "rule_summary": summary,
                "engine_version": "27.3.1",
                "containers": CONTAINERS,
                "images": IMAGES,
                "last_success_at": at,
                "last_scan_id": attempts.get(p.id, run_id),
                "last_attempt_at": now - dt.timedelta(minutes=3) if error else at,
                "last_error_class": "unreachable" if error else "",
                "consecutive_failures": 3 if error else 0,
            }

    step("host postures", HostPosture, posture_rows())
    # COPY goes around findings.store, so each host's share of the catalogue's fleet totals
    # is computed once here, by the tool made for writes around the store.
    from findings.tallies import rebuild_contributions

    rebuild_contributions()

    inspect = {
        "Config": {
            "Image": "registry.example.org/app:1.0",
            "User": "",
            "Env": ["PATH=/usr/bin"],
            "Labels": {"com.example.team": "web"},
            "Healthcheck": None,
        },
        "HostConfig": {
            "Privileged": False,
            "CapAdd": None,
            "CapDrop": None,
            "ReadonlyRootfs": False,
            "Memory": 0,
            "PidsLimit": None,
            "NetworkMode": "bridge",
            "RestartPolicy": {"Name": "no"},
            "SecurityOpt": None,
            "Binds": ["/srv/data:/data"],
        },
        "Mounts": [{"Type": "bind", "Source": "/srv/data", "Destination": "/data", "RW": True}],
        "State": {"Status": "running", "Running": True},
    }

    # Ids are read before each COPY starts: a query inside the COPY would wait for it forever.
    cid, iid, fid = next_id(Container), next_id(Image), next_id(Finding)

    def container_rows(cid: int) -> Iterator[dict[str, Any]]:
        for p in scanned:
            for key, name in p.container_keys:
                yield {
                    "id": cid,
                    "host_id": p.id,
                    "name": name,
                    "inspect": {**inspect, "Name": f"/{name}"},
                    "digest": key,
                    "first_seen_at": now - dt.timedelta(days=60),
                    "container_id": key,
                    "image_ref": p.image_keys[0][1],
                    "image_id": p.image_keys[0][0],
                    "state": "running",
                }
                cid += 1

    def image_rows(iid: int) -> Iterator[dict[str, Any]]:
        for p in scanned:
            for key, name in p.image_keys:
                yield {
                    "id": iid,
                    "host_id": p.id,
                    "name": name,
                    "digest": key[7:],
                    "inspect": {"Config": {"User": "", "Healthcheck": None}, "RepoTags": [name]},
                    "first_seen_at": now - dt.timedelta(days=60),
                    "image_id": key,
                    "tags": [name],
                    "history": [{"CreatedBy": "/bin/sh -c apt-get update"}],
                }
                iid += 1

    step("containers", Container, container_rows(cid))
    step("images", Image, image_rows(iid))

    def finding_rows(fid: int) -> Iterator[dict[str, Any]]:
        for p in scanned:
            for (rule_id, kind, key), name in p.open.items():
                yield {
                    "id": fid,
                    "host_id": p.id,
                    "rule_id": rule_id,
                    "severity": severity[rule_id],
                    "subject_kind": kind,
                    "subject_key": key,
                    "subject_name": name,
                    "evidence": evidence[rule_id],
                    "opened_at": now - dt.timedelta(days=rng.uniform(0, 120)),
                }
                fid += 1
        opened = sum(len(p.open) for p in scanned)
        history = max(0, findings - opened)
        for n in range(history):
            p = scanned[n % len(scanned)]
            rule = rng.choices(rules, weights)[0]
            kind = rule.scope.value
            key, name = (
                rng.choice(p.container_keys)
                if kind == "container"
                else rng.choice(p.image_keys)
                if kind == "image"
                else ("", "")
            )
            # Remediated after a few days on average; opened over the last 180 days.
            opened_at = now - dt.timedelta(days=rng.uniform(0.1, 180))
            resolved_at = opened_at + dt.timedelta(days=min(rng.expovariate(1 / 6), 60))
            if resolved_at >= now:
                resolved_at = now - dt.timedelta(minutes=rng.uniform(1, 600))
                opened_at = min(opened_at, resolved_at - dt.timedelta(hours=1))
            yield {
                "id": fid,
                "host_id": p.id,
                "rule_id": rule.id,
                "severity": severity[rule.id],
                "subject_kind": kind,
                "subject_key": key,
                "subject_name": name,
                "evidence": evidence[rule.id],
                "opened_at": opened_at,
                "resolved_at": resolved_at,
            }
            fid += 1

    step("findings", Finding, finding_rows(fid))

    began = time.perf_counter()
    # The rollups as beat runs them: every past day (each host's last sample of the day),
    # then the same days by team and env label (scores, findings flow, rules failing).
    rollup_scores(today=timezone.localdate(now))
    timings["daily scores and rollups by label (trends.rollup)"] = time.perf_counter() - began

    user, _ = get_user_model().objects.get_or_create(
        username=USERNAME, defaults={"email": "bench@example.org"}
    )
    user.set_password(PASSWORD)
    user.save()
    Subscription.objects.bulk_create(
        Subscription(user=user, scope="team", label_selector=f"team={t}")
        for t in ("web", "data", "ops")
    )
    step(
        "notifications",
        Notification,
        (
            {
                "user_id": user.pk,
                "kind": "regression",
                "to": "bench@example.org",
                "status": "sent",
                "created_at": now - dt.timedelta(hours=n),
                "sent_at": now - dt.timedelta(hours=n),
            }
            for n in range(1000)
        ),
    )
    reset_sequences(Host, ScanRun, ScoreSample, Container, Image, Finding, Notification)
    from trends.models import DailyScore

    counts["daily scores"] = DailyScore.objects.count()
    counts["open findings"] = Finding.objects.open().count()
    return {"counts": counts, "timings": timings}


# --- The database, the server, the client ---------------------------------------------------


def prepare_database(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    import psycopg

    info = LabPostgres("test-pg").start().info
    admin = info.url.rsplit("/", 1)[0] + "/postgres"
    env = {
        **info.env(),
        "POSTURE_DB_NAME": DB_NAME,
        "POSTURE_DATA_DIR": str(data_dir),
        "POSTURE_LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "posture.settings",
    }
    os.environ.update(env)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone()
        if exists and not args.reuse_db:
            conn.execute(f"DROP DATABASE {DB_NAME} WITH (FORCE)")
        if not exists or not args.reuse_db:
            conn.execute(f"CREATE DATABASE {DB_NAME}")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from django.db import connection

    from findings.models import Finding

    seeded: dict[str, Any] = {"reused": False}
    from hosts.models import Host

    if (
        args.reuse_db
        and Host.objects.count() == args.hosts
        and Finding.objects.count() >= args.findings * 0.95
    ):
        seeded["reused"] = True
        log("reusing the seeded database")
    else:
        if Host.objects.exists():
            raise SystemExit(f"{DB_NAME} holds other rows; run without --reuse-db")
        began = time.perf_counter()
        seeded.update(seed(args.hosts, args.findings))
        log(f"seeded in {time.perf_counter() - began:.0f} s: {seeded['counts']}")
    began = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    seeded["vacuum_s"] = time.perf_counter() - began
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, pg_total_relation_size(relid) FROM pg_stat_user_tables"
            " ORDER BY 2 DESC LIMIT 8"
        )
        seeded["sizes"] = cursor.fetchall()
        cursor.execute("SHOW server_version")
        seeded["pg"] = cursor.fetchone()[0]
        cursor.execute("SHOW shared_buffers")
        seeded["shared_buffers"] = cursor.fetchone()[0]
    connection.close()
    seeded["env"] = env
    seeded["admin_url"] = admin
    return seeded


def pages() -> list[tuple[str, str, bool]]:
    """(label, path, htmx) for each page measured; the first is the floor."""
    from django.db.models import Count, Q

    from findings.models import Finding
    from hosts.models import Host

    rule = (
        Finding.objects.open()
        .values("rule_id")
        .annotate(n=Count("host", distinct=True))
        .order_by("-n")
    )[0]["rule_id"]
    # A host with about the median number of open findings.
    hosts = list(
        Host.objects.filter(posture__isnull=False)
        .annotate(n=Count("findings", filter=Q(findings__resolved_at__isnull=True)))
        .order_by("n")
        .values_list("name", flat=True)
    )
    host = hosts[len(hosts) // 2]
    filtered = "/?" + urllib.parse.urlencode({"label": "env=prod", "status": "failing"})
    return [
        ("floor: /healthz", "/healthz", False),
        ("fleet", "/", False),
        ("fleet, filtered", filtered, False),
        ("fleet, htmx partial", "/", True),
        ("fleet filtered, htmx partial", filtered, True),
        ("fleet sorted by score, htmx partial", "/?sort=score", True),
        ("host page", f"/hosts/{host}/", False),
        ("rules catalogue", "/rules/", False),
        (f"rule page ({rule})", f"/rules/{rule}/", False),
        ("trends", "/trends/", False),
        ("trends, htmx partial", "/trends/?env=prod", True),
        ("report", "/reports/", False),
        ("alerts", "/alerts/", False),
        ("exceptions", "/exceptions/", False),
    ]


class Server:
    def __init__(self, env: dict[str, str], data_dir: Path, workers: int, threads: int) -> None:
        self.port = free_port("127.0.0.1")
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "gunicorn.log"
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "posture.wsgi",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--worker-tmp-dir",
            "/dev/shm",
            "--error-logfile",
            str(self.log_path),
        ]
        self.process = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        ok = wait_until(self._ready, timeout=60, failed=lambda: self.process.poll() is not None)
        if not ok:
            raise SystemExit(f"gunicorn did not start; see {self.log_path}")

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.base + "/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def drain(self, timeout: float = 120.0) -> None:
        """Wait until the requests a finished wrk left queued are served: wrk stops sending
        when its time is up, but gunicorn still answers everything already accepted."""
        began = time.monotonic()
        quick = 0
        while quick < 2 and time.monotonic() - began < timeout:
            started = time.perf_counter()
            self._ready()
            quick = quick + 1 if time.perf_counter() - started < 0.05 else 0

    def stop(self) -> None:
        if self.process.poll() is None:
            terminate(self.process.pid, timeout=15)

    def login(self) -> str:
        """Sign in through the login form; returns the Cookie header for the session."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        opener.open(self.base + "/login/").read()
        csrf = next(c.value for c in jar if c.name == "csrftoken")
        body = urllib.parse.urlencode(
            {"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": csrf}
        ).encode()
        request = urllib.request.Request(
            self.base + "/login/", data=body, headers={"Referer": self.base + "/login/"}
        )
        opener.open(request).read()
        cookies = {c.name: c.value for c in jar}
        if "sessionid" not in cookies:
            raise SystemExit("login failed: no session cookie")
        return "; ".join(f"{k}={v}" for k, v in cookies.items())

    def check(self, path: str, cookie: str, htmx: bool) -> tuple[int, int]:
        headers = {"Cookie": cookie, **({"HX-Request": "true"} if htmx else {})}
        request = urllib.request.Request(self.base + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, len(response.read())
        except urllib.error.HTTPError as error:
            return error.code, 0


def wrk(
    url: str,
    path: str,
    cookie: str,
    htmx: bool,
    connections: int,
    seconds: float,
    lua: Path,
) -> dict[str, Any]:
    env = {**os.environ, "WRK_PATH": path, "WRK_COOKIE": cookie, "WRK_HX": "1" if htmx else "0"}
    threads = min(2, connections)
    cmd = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{seconds:g}s",
        "--timeout",
        "30s",
        "-s",
        str(lua),
        url,
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    result: dict[str, Any] = json.loads(line.removeprefix("WRKJSON "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def paced_users(
    url: str, path: str, cookie: str, htmx: bool, users: int, seconds: float, think_ms: float
) -> dict[str, Any]:
    """`users` people at browsers: each pauses an exponentially distributed think time
    (mean think_ms) after an answer, then asks for the page again on its kept-alive
    connection. Not wrk: its delay() hook put some of the pauses into the measured
    latency (p95 of 0.7-1.8 s for a WSGI app answering "ok" in 1 ms). A connection the
    server closed while the user was thinking is reopened and the request sent again, as a
    browser does, the time lost counted in that request's latency."""
    parts = urllib.parse.urlsplit(url)
    headers = {"Cookie": cookie, **({"HX-Request": "true"} if htmx else {})}
    latencies: list[float] = []
    counts = {"non2xx": 0, "errors": 0}
    lock = threading.Lock()
    start = time.monotonic()
    deadline = start + seconds

    def once(conn: http.client.HTTPConnection) -> int:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status

    def user(seed: int) -> None:
        rnd = random.Random(seed)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        try:
            while True:
                pause = rnd.expovariate(1000.0 / think_ms)
                if time.monotonic() + pause >= deadline:
                    return
                time.sleep(pause)
                began = time.perf_counter()
                try:
                    try:
                        status = once(conn)
                    except (http.client.RemoteDisconnected, ConnectionError):
                        conn.close()  # closed by the server's keep-alive timeout: reopen
                        status = once(conn)
                except (OSError, http.client.HTTPException):
                    conn.close()
                    with lock:
                        counts["errors"] += 1
                    continue
                elapsed = time.perf_counter() - began
                with lock:
                    latencies.append(elapsed)
                    counts["non2xx"] += not 200 <= status < 300
        finally:
            conn.close()

    threads = [threading.Thread(target=user, args=(n,), daemon=True) for n in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    latencies.sort()

    def pct(q: float) -> int:
        if not latencies:
            return 0
        return int(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e6)

    duration = max(time.monotonic() - start, 1e-9)
    return {
        "requests": len(latencies),
        "duration_us": int(duration * 1e6),
        "p50": pct(0.50),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "max": pct(1.0),
        "rps": len(latencies) / duration,
        **counts,
    }


# --- Diagnosis: statements and plans ---------------------------------------------------------


def explain(targets: list[tuple[str, str, bool]], slow_ms: float) -> list[str]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(get_user_model().objects.get(username=USERNAME))
    lines = ["", "### Statements per page (one in-process request after a warm-up)", ""]
    for label, path, htmx in targets:
        headers = {"HX-Request": "true"} if htmx else {}
        if client.get(path, headers=headers).status_code != 200:
            continue
        began = time.perf_counter()
        with CaptureQueriesContext(connection) as ctx:
            client.get(path, headers=headers)
        total = (time.perf_counter() - began) * 1000
        sql_ms = sum(float(q["time"]) for q in ctx.captured_queries) * 1000
        lines.append(
            f"- **{label}** `{path}`{' (htmx)' if htmx else ''}: {total:.0f} ms, "
            f"{len(ctx.captured_queries)} statements, {sql_ms:.0f} ms in SQL"
        )
        for query in ctx.captured_queries:
            ms = float(query["time"]) * 1000
            if ms < slow_ms or not query["sql"].lstrip().upper().startswith("SELECT"):
                continue
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
                plan = "\n".join(row[0] for row in cursor.fetchall())
            lines += [
                f"  - {ms:.0f} ms:",
                "",
                "```sql",
                query["sql"][:3000],
                "```",
                "```",
                plan,
                "```",
                "",
            ]
    return lines


# --- Report ---------------------------------------------------------------------------------


def ms(microseconds: float) -> str:
    return f"{microseconds / 1000:.1f}"


def loadavg() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def report(
    args: argparse.Namespace,
    seeded: dict[str, Any],
    results: dict[str, dict[str, dict[str, Any]]],
    targets: list[tuple[str, str, bool]],
    skipped: list[str],
    notes: dict[str, str],
) -> list[str]:
    lines = [
        f"### {args.hosts:,} hosts, {args.findings:,} findings; gunicorn {args.workers} workers × "
        f"{args.threads} threads; wrk, {args.duration:g} s per page per concurrency, "
        f"best of {args.runs}",
        "",
        f"- {notes['began']} – {notes['ended']}; load average {notes['load_before']} before, "
        f"{notes['load_after']} after (1 / 5 / 15 min)",
        f"- CPU {cpu_model()}, nproc {os.cpu_count()}; Python {platform.python_version()}; "
        f"PostgreSQL {seeded['pg']} (lab cluster, fsync off, "
        f"shared_buffers {seeded['shared_buffers']})",
    ]
    if seeded.get("counts"):
        counts = ", ".join(f"{k} {v:,}" for k, v in seeded["counts"].items())
        seconds = sum(seeded["timings"].values())
        lines.append(
            f"- seeded in {seconds:.0f} s ({counts}); VACUUM ANALYZE {seeded['vacuum_s']:.0f} s"
        )
        lines.append(
            "- seconds per step: " + ", ".join(f"{k} {v:.1f}" for k, v in seeded["timings"].items())
        )
    else:
        lines.append(
            f"- database reused from an earlier run; VACUUM ANALYZE {seeded['vacuum_s']:.0f} s"
        )
    sizes = ", ".join(f"{name} {size / 2**20:.0f} MiB" for name, size in seeded["sizes"])
    lines.append(f"- largest tables with their indexes: {sizes}")
    if skipped:
        lines.append(f"- not measured: {'; '.join(skipped)}")
    for level, by_page in results.items():
        floor = by_page[targets[0][0]]
        connections, think = parse_level(level, args.think_ms)
        heading = (
            f"**{connections} users, each pausing {think:g} ms on average between an answer "
            "and the next request**"
            if think
            else f"**{connections} concurrent connections**"
        )
        lines += [
            "",
            heading,
            "",
            "| page | requests | p50 ms | p95 ms | p99 ms | req/s | p50 × floor | p95 × floor "
            f"| p95 ≤ {TARGET_MS} ms |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for label, _path, _hx in targets:
            r = by_page.get(label)
            if r is None:
                continue
            bad = (
                f", {r['non2xx']} non-2xx, {r['errors']} errors"
                if r["non2xx"] or r["errors"]
                else ""
            )
            if not r["requests"]:  # none answered within --duration: no percentiles
                lines.append(f"| {label}{bad} | 0 | — | — | — | 0 | — | — | **no** |")
                continue
            met = "yes" if r["p95"] <= TARGET_MS * 1000 else "**no**"
            lines.append(
                f"| {label}{bad} | {r['requests']} | {ms(r['p50'])} | {ms(r['p95'])} "
                f"| {ms(r['p99'])} "
                f"| {r['rps']:.0f} | {r['p50'] / floor['p50']:.1f} "
                f"| {r['p95'] / floor['p95']:.1f} | {met} |"
            )
    lines += [
        "",
        "Paths: "
        + "; ".join(
            f"{label} `{path}`{' (HX-Request)' if hx else ''}" for label, path, hx in targets
        ),
    ]
    return lines


def parse_level(level: str, think_ms: float) -> tuple[int, float]:
    """'8' → 8 connections in a closed loop; '25u' → 25 users pausing think_ms between
    requests (what people at browsers do)."""
    users = level.endswith("u")
    try:
        connections = int(level.removesuffix("u"))
    except ValueError:
        raise SystemExit(f"bad --concurrency level {level!r}: use 8 or 25u") from None
    if connections < 1:
        raise SystemExit(f"bad --concurrency level {level!r}")
    return connections, (think_ms if users else 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--findings", type=int, default=1_000_000)
    parser.add_argument(
        "--concurrency",
        default="8,32",
        help="wrk connections, comma-separated; NNu = NN users pausing --think-ms between clicks",
    )
    parser.add_argument(
        "--think-ms", type=float, default=1000.0, help="mean pause of a NNu level's users"
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per page and level")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=2, help="passes; the best run's figures count")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated page labels (substrings)")
    parser.add_argument("--explain", action="store_true", help="print statements and plans")
    parser.add_argument("--explain-ms", type=float, default=10.0)
    parser.add_argument("--no-load", action="store_true", help="seed (and explain) only")
    parser.add_argument("--reuse-db", action="store_true", help="keep an already seeded database")
    parser.add_argument("--keep-db", action="store_true", help=f"leave {DB_NAME} at the end")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so gunicorn is stopped and the database dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    if shutil.which("wrk") is None and not args.no_load:
        raise SystemExit("wrk not found (Debian: apt-get install wrk)")
    levels = [c.strip() for c in args.concurrency.split(",") if c.strip()]
    for level in levels:
        parse_level(level, args.think_ms)  # refuse a bad level before seeding
    data_dir = Path(tempfile.mkdtemp(prefix="posture-pages-"))
    (data_dir / "static").mkdir()  # STATIC_ROOT: whitenoise warns when it is missing
    notes = {"began": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, data_dir, ignore_errors=True)
        seeded = prepare_database(args, data_dir)
        if not args.keep_db:
            stack.callback(drop_database, seeded["admin_url"])
        targets = pages()
        if args.only:
            wanted = args.only.split(",")
            targets = [targets[0]] + [t for t in targets[1:] if any(w in t[0] for w in wanted)]
        if args.explain:
            print("\n".join(explain(targets[1:], args.explain_ms)), flush=True)
        from django.db import connection

        connection.close()
        if args.no_load:
            return
        server = Server(seeded["env"], data_dir, args.workers, args.threads)
        stack.callback(server.stop)
        cookie = server.login()
        skipped = []
        for target in list(targets):
            status, size = server.check(target[1], cookie, target[2])
            if status != 200:
                skipped.append(f"{target[0]} `{target[1]}` answers {status}")
                targets.remove(target)
            else:
                log(f"{target[0]}: {size:,} bytes")
        lua = data_dir / "session.lua"
        lua.write_text(WRK_LUA)
        notes["load_before"] = loadavg()
        results: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in levels}
        warm = min(parse_level(c, args.think_ms)[0] for c in levels)
        raw: list[dict[str, Any]] = []
        for run in range(args.runs):
            for label, path, htmx in targets:
                wrk(server.base, path, cookie, htmx, warm, args.warmup, lua)
                for c in levels:
                    server.drain()
                    connections, think = parse_level(c, args.think_ms)
                    if think:
                        r = paced_users(
                            server.base, path, cookie, htmx, connections, args.duration, think
                        )
                    else:
                        r = wrk(server.base, path, cookie, htmx, connections, args.duration, lua)
                    raw.append({"run": run, "page": label, "c": c, **r})
                    log(
                        f"run {run + 1} c={c} {label}: p50 {ms(r['p50'])} "
                        f"p95 {ms(r['p95'])} ms, {r['rps']:.0f}/s"
                    )
                    best = results[c].get(label)
                    if best is None or not best["requests"] or 0 < r["p95"] < best["p95"]:
                        results[c][label] = r
        notes["load_after"] = loadavg()
        notes["ended"] = time.strftime("%H:%M UTC", time.gmtime())
        print("\n".join(report(args, seeded, results, targets, skipped, notes)), flush=True)
        if args.json:
            args.json.write_text(
                json.dumps(
                    {"runs": raw, "seed": {k: v for k, v in seeded.items() if k != "env"}},
                    indent=1,
                    default=str,
                )
            )


def drop_database(admin_url: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


if __name__ == "__main__":
    main()

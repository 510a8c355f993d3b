"""Image scanning at fleet scale: the same fleet cycle with POSTURE_IMAGE_SCAN=off and =os.

    python bench/bench_fleet_images.py --hosts 1000 --containers 50 --images 50

Issue 11's fleet target: 1,000 simulated hosts × 50 containers sharing 50 images; the first
cycle with vulnerability scanning on within 1.3× the same cycle without it, an unchanged
cycle within 1.05×, and exactly 50 inventory reads.

bench_fleet's machinery (its Bench, a real Celery worker on a lab Redis and PostgreSQL,
lab.sim_engine's virtual hosts), on services and a simulator directory of this bench's own.
Once: migrate, import vulnerability data (lab.vulndata's demo data and a generated corpus
shaped like Debian's OSV data, a share of it about the simulator's own source packages so
that matching finds and discards real candidates), register the hosts, and keep that
database as a PostgreSQL template. Then per mode, a fresh copy of the template (no
findings, no inventories: a true first cycle), workers started with POSTURE_IMAGE_SCAN set,
a first cycle and an unchanged one. --rounds repeats the pair of modes (the order
alternating), each round on fresh copies.

Inventory reads are counted three ways: ImageInventory rows read during the cycle (read_at),
calls of scans.images.read_inventory in the workers (counted at run time, product code
unchanged) with the HEADs and GETs they send the archive endpoint, and the simulator's
requests beyond the "off" twin's.
--pyspy BINARY samples the first worker (`py-spy record --gil`) during the chosen cycles.
--experiment summaries-cache measured, at run time, the proposal that became vulns.summary
(it patches the old vulns.inventories.summaries, which no longer exists: kept for the
record of docs/BENCHMARKS.md, it now fails). --keep leaves the services and the template
database; --reuse takes that template again (the data import takes minutes at full size).
Prints markdown; writes nothing into the repository.
"""

# ruff: noqa: E402  (the repository root must be on sys.path before the project imports)
from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_fleet
from bench_fleet import Bench, fmt, log

from lab import vulndata
from lab.process import wait_until
from lab.services import LabPostgres, LabRedis
from lab.sim_engine import SimEngine, SimImageFiles, SimSpec

DB_NAME = "posture_bench_images"
TEMPLATE = f"{DB_NAME}_tpl"
SIM_DIR = "/tmp/pst-sim-bench-images"
MODES = ("off", "os")
# Worker-side counters: (module, function, key). The product calls these through module
# attributes, so replacing the attribute counts every call.
COUNTED = (
    ("scans.services", "_read_inventories", "read_inventories"),
    ("vulns.inventories", "claim", "claim"),
    ("scans.images", "read_inventory", "read"),
    ("vulns.inventories", "release", "release"),
    ("vulns.inventories", "store", "inv_store"),
    ("vulns.inventories", "match", "match"),
    ("vulndb.index", "index_for", "index_for"),
    ("vulns.summary", "summaries", "summaries"),
    ("vulns.history", "record", "history"),
)
STEPS = (
    "read_inventories", "claim", "read", "inv_store", "match", "index_for", "summaries", "history",
)  # fmt: skip
FLEET_STEPS = ("collect", "rules", "store", "db")


# --- The worker (runs in the Celery subprocess) -------------------------------------------


def worker_main(stats_path: Path, celery_args: list[str]) -> None:
    """bench_fleet's worker (step timers, write counter) with the image steps counted."""
    import importlib

    import django

    django.setup()
    from celery.signals import task_postrun

    if os.environ.get("BENCH_EXPERIMENT") == "summaries-cache":
        experiment_summaries_cache()
    lock = threading.Lock()
    stats: dict[str, Any] = {"calls": defaultdict(int), "wall": defaultdict(float)}

    def counted(module: Any, name: str, key: str) -> None:
        fn = getattr(module, name)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            result = None
            try:
                result = fn(*args, **kwargs)
                return result
            finally:
                with lock:
                    stats["calls"][key] += 1
                    stats["wall"][key] += time.perf_counter() - started
                    if key == "read" and getattr(result, "assessed", False):
                        stats["calls"]["read_assessed"] += 1

        setattr(module, name, wrapper)

    for module_name, name, key in COUNTED:
        module = importlib.import_module(module_name)
        if hasattr(module, name):
            counted(module, name, key)
        else:  # the product moved on: the figure reads "—", the bench still runs
            print(f"bench worker: no {module_name}.{name} to count", file=sys.stderr)

    from scans.transports.base import DockerAPI

    def archive_requests(method: str, key: str) -> None:
        # The archive endpoint's traffic, whatever function of scans.images asks for it.
        fn = getattr(DockerAPI, method)

        @functools.wraps(fn)
        def wrapper(self: Any, path: str, *args: Any, **kwargs: Any) -> Any:
            if path.endswith("/archive"):
                with lock:
                    stats["calls"][key] += 1
            return fn(self, path, *args, **kwargs)

        setattr(DockerAPI, method, wrapper)

    archive_requests("head", "archive_head")
    archive_requests("get_stream", "archive_get")

    def dump(**kwargs: Any) -> None:
        with lock:
            text = json.dumps(stats)
        tmp = stats_path.with_suffix(f".{threading.get_ident()}.tmp")
        tmp.write_text(text)
        tmp.replace(stats_path)

    task_postrun.connect(dump, weak=False)
    bench_fleet.worker_main(stats_path.with_name(stats_path.name + ".fleet"), celery_args)


def experiment_summaries_cache() -> None:
    """--experiment summaries-cache: vulns.inventories.summaries as it is, except that each
    inventory's vulnerability rows are read once per worker process (as tuples, not model
    instances) and kept while the inventory's pk, matched_at and read_at stay the same.
    Measures a proposed change at run time; the product code is not edited. Uploaded
    scans' rows (ingest) do not move matched_at: the real change needs a key that they
    move too."""
    from collections import namedtuple

    from vulns import inventories
    from vulns.models import ImageInventory, ImageVulnerability, Package
    from vulns.triage import Decisions

    row = namedtuple(  # attribute access, as _summary reads model rows
        "row", "inventory_id vuln package_name installed_version fixed_version severity kev epss"
    )
    cache: dict[tuple[Any, ...], list[Any]] = {}
    lock = threading.Lock()

    def summaries(host: Any, images: Any, mode: str, containers: Any) -> None:
        keys = {i.layers_key for i in images if i.layers_key}
        found = {inv.key: inv for inv in ImageInventory.objects.filter(key__in=keys)}
        vulns: dict[int, list[Any]] = {}
        missing = []
        for inv in found.values():
            with lock:
                rows = cache.get((inv.pk, inv.matched_at, inv.read_at))
            if rows is None:
                missing.append(inv)
            else:
                vulns[inv.pk] = rows
        if missing:
            fetched: dict[int, list[Any]] = defaultdict(list)
            for values in ImageVulnerability.objects.filter(inventory__in=missing).values_list(
                *row._fields
            ):
                fetched[values[0]].append(row(*values))
            with lock:
                for inv in missing:
                    vulns[inv.pk] = cache[(inv.pk, inv.matched_at, inv.read_at)] = fetched[inv.pk]
        decisions = Decisions.in_force({v.vuln for rows in vulns.values() for v in rows})
        with_data = inventories._ecosystems_with_data(
            {inv.ecosystem for inv in found.values() if inv.ecosystem}
        ) | inventories._ecosystems_with_data(
            set(
                Package.objects.filter(inventory__in=list(found.values()))
                .exclude(ecosystem__contains=":")
                .values_list("ecosystem", flat=True)
                .distinct()
            )
        )
        labels = host.labels if isinstance(host.labels, dict) else {}
        for image in images:
            image.vulns = inventories._summary(
                image,
                found.get(image.layers_key),
                vulns,
                decisions,
                with_data,
                labels,
                mode,
                containers,
            )

    inventories.summaries = summaries  # type: ignore[assignment]


# --- Vulnerability data -------------------------------------------------------------------


def sim_sources(images: int) -> dict[str, set[str]]:
    """Source package → the versions the simulator's images carry (what matching keys on)."""
    from debian.deb822 import Deb822

    sources: dict[str, set[str]] = defaultdict(set)
    for k in range(images):
        status = SimImageFiles(k).files["var/lib/dpkg/status"].decode()
        for para in Deb822.iter_paragraphs(status):
            name, _, version = para.get("Source", para["Package"]).partition(" (")
            sources[name.strip()].add(version.rstrip(")") or para["Version"])
    return sources


def debian_corpus(rng: random.Random, total: int, images: int) -> list[dict[str, Any]]:
    """OSV records shaped like Debian's (DEBIAN-CVE ids with an upstream CVE, source
    packages, Debian:11 and Debian:12 ranges, no severity): per simulator source package a
    few dozen, fixed above or below what the images carry or not fixed, the rest on other
    names."""
    records: list[dict[str, Any]] = []

    def record(name: str, fixed: dict[str, str | None]) -> None:
        n = len(records)
        cve = f"CVE-20{10 + n % 15}-{100000 + n}"
        affected = []
        for release, fix in fixed.items():
            events: list[dict[str, str]] = [{"introduced": "0"}]
            if fix:
                events.append({"fixed": fix})
            affected.append(
                {
                    "package": {"ecosystem": f"Debian:{release}", "name": name},
                    "ranges": [{"type": "ECOSYSTEM", "events": events}],
                }
            )
        records.append(
            vulndata.osv_record(
                f"DEBIAN-{cve}", affected, upstream=[cve], summary=f"{name}: simulated flaw"
            )
        )

    for name, versions in sorted(sim_sources(images).items()):
        per_name = 5 if name.startswith("sim-app") else 60
        for i in range(per_name):
            installed = rng.choice(sorted(versions))
            roll = rng.random()
            if roll < 0.3:  # fixed later than the image's version: it matches
                fix: str | None = f"{installed}+deb12u{i + 90}"
            elif roll < 0.4:  # no fix yet
                fix = None
            else:  # fixed long ago
                fix = f"0.{i}-1"
            record(name, {"11": f"0.{i}-1", "12": fix})
    while len(records) < total:
        n = len(records)
        fix = f"{rng.randint(0, 3)}:{rng.randint(1, 9)}.{rng.randint(0, 30)}-{rng.randint(1, 5)}"
        record(f"pkg{rng.randint(0, total // 4 + 50)}", {"11": fix + "+deb11u1", "12": fix})
        if n % 3 == 0:
            records[-1]["affected"].pop(0)
    return records


def import_data(folder: Path, advisories: int, images: int) -> dict[str, Any]:
    from vulndb import importer

    paths = vulndata.write_demo(folder / "demo")
    corpus = debian_corpus(random.Random(11), advisories, images)
    paths.append(vulndata.write_osv_zip(folder / "debian" / "all.zip", corpus))
    started = time.perf_counter()
    report = importer.import_paths(paths)
    if not report.ok:
        raise RuntimeError(f"vulnerability data import failed: {report}")
    return {"advisories": len(corpus), "import_s": time.perf_counter() - started}


# --- The bench ----------------------------------------------------------------------------


class ImageBench(Bench):
    def __init__(self, args: argparse.Namespace, data_dir: Path) -> None:
        super().__init__(args, data_dir)
        # Names of this bench's own: bench_fleet may run beside it.
        self.redis = LabRedis("bench-img-redis")
        self.postgres = LabPostgres("bench-img-pg")
        self.mode = "off"
        self.profiles: dict[str, Path] = {}

    @property
    def template(self) -> str:
        a = self.args
        return f"{TEMPLATE}_{a.hosts}_{a.images}_{a.advisories}"

    def setup(self) -> None:
        """Services, the schema, the data and the hosts, kept as the template database
        (or a kept template of the same sizes taken again, with --reuse)."""
        import psycopg

        self.redis.start()
        self.postgres.start()
        info = self.postgres.info
        with psycopg.connect(info.url, autocommit=True) as conn:
            found = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.template,)
            ).fetchone()
            reuse = bool(found) and self.args.reuse
            conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
            if reuse:
                conn.execute(f"CREATE DATABASE {DB_NAME} TEMPLATE {self.template}")
            else:
                conn.execute(f"DROP DATABASE IF EXISTS {self.template} WITH (FORCE)")
                conn.execute(f"CREATE DATABASE {DB_NAME}")
        env = {
            **info.env(),
            "POSTURE_DB_NAME": DB_NAME,
            "POSTURE_BROKER_URL": self.redis.url,
            "POSTURE_DATA_DIR": str(self.data_dir),
            "POSTURE_LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "posture.settings",
        }
        os.environ.update(env)
        self.worker_env = env
        import django
        from django.core.management import call_command

        django.setup()
        from vulndb.models import Advisory

        started = time.perf_counter()
        if reuse:
            self.results["data"] = {"advisories": self.args.advisories, "import_s": None}
            log(f"template {self.template} reused ({Advisory.objects.count()} advisories)")
        else:
            call_command("migrate", verbosity=0)
            data = import_data(self.data_dir / "vulndata", self.args.advisories, self.args.images)
            self.results["data"] = data
            log(
                f"schema and {data['advisories']} generated advisories (+ demo data) in"
                f" {time.perf_counter() - started:.0f}s (import {data['import_s']:.0f}s)"
            )
        self.start_sim(self.args.containers)
        if not reuse:
            self.register_hosts()
        self._copy(DB_NAME, self.template)

    def _copy(self, source: str, target: str) -> None:
        import psycopg
        from django.db import connections

        connections.close_all()  # CREATE DATABASE ... TEMPLATE needs the source unused
        with psycopg.connect(self.postgres.info.url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {target} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {target} TEMPLATE {source}")

    def fresh_database(self) -> None:
        """The template again: no scans, findings or inventories; data and hosts kept."""
        self.stop_worker()
        self._copy(self.template, DB_NAME)

    def start_sim(self, containers: int, faults: tuple[Any, ...] = ()) -> SimEngine:
        if self.sim is not None:
            self.sim.stop()
        a = self.args
        spec = SimSpec(
            hosts=a.hosts,
            containers=containers,
            images=a.images,
            latency_ms=a.latency_ms,
            directory=SIM_DIR,
            tls=a.tls,
            faults=faults,
        )
        self.sim = SimEngine(spec, start_timeout=120).start()
        self.repoint_hosts()
        return self.sim

    def start_worker(self, concurrency: int, deadline: int | None = None) -> None:
        """bench_fleet's workers, run through this script so that image steps are counted,
        with POSTURE_IMAGE_SCAN set to the bench's current mode."""
        self.stop_worker()
        self.concurrency = concurrency
        env = {**os.environ, **self.worker_env, "POSTURE_IMAGE_SCAN": self.mode}
        if self.args.experiment:
            env["BENCH_EXPERIMENT"] = self.args.experiment
        for n in range(self.args.processes):
            for stale in (self.stats_path(n), self.fleet_stats_path(n)):
                stale.unlink(missing_ok=True)
            celery_args = [
                "-A", "posture", "worker", "--pool", "threads", "--concurrency", str(concurrency),
                "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
                "--without-heartbeat", "-n", f"bench-img-{self.mode}-{n}@%h",
            ]  # fmt: skip
            with (self.data_dir / "worker.log").open("ab") as out:
                self.workers.append(
                    subprocess.Popen(
                        [sys.executable, __file__, "worker", str(self.stats_path(n)),
                         *celery_args],
                        cwd=ROOT,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )  # fmt: skip
        from posture.celery import app

        def ready() -> bool:
            return len(app.control.ping(timeout=0.5)) >= len(self.workers)

        if not wait_until(ready, timeout=180, interval=0.5):
            tail = (self.data_dir / "worker.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the Celery workers did not answer a ping within 180 s:\n{tail}")

    def stats_path(self, n: int) -> Path:
        return self.data_dir / f"worker-images-{n}.json"

    def fleet_stats_path(self, n: int) -> Path:
        return self.stats_path(n).with_name(self.stats_path(n).name + ".fleet")

    def worker_stats(self) -> dict[str, Any]:
        # bench_fleet's reader looks for worker-stats-{n}.json: ours writes it beside.
        total: dict[str, Any] = {"tasks": 0, "wall": defaultdict(float), "writes": {}}
        for n in range(len(self.workers)):
            try:
                one = json.loads(self.fleet_stats_path(n).read_text())
            except (OSError, ValueError):
                continue
            total["tasks"] += one["tasks"]
            for key, value in one["wall"].items():
                total["wall"][key] += value
            for key, (statements, rows) in one["writes"].items():
                entry = total["writes"].setdefault(key, [0, 0])
                entry[0] += statements
                entry[1] += rows
        return total

    def image_stats(self) -> dict[str, dict[str, Any]]:
        total: dict[str, dict[str, Any]] = {"calls": defaultdict(int), "wall": defaultdict(float)}
        for n in range(len(self.workers)):
            with contextlib.suppress(OSError, ValueError):
                one = json.loads(self.stats_path(n).read_text())
                for part in ("calls", "wall"):
                    for key, value in one[part].items():
                        total[part][key] += value
        return total

    def cycle(self, label: str, hosts: int | None = None, timeout: float = 1800) -> dict[str, Any]:
        from django.utils import timezone

        from vulns.models import ImageInventory

        before, rows_before = self.image_stats(), table_counts()
        t0 = timezone.now()
        profile = self.profile_start(label)
        try:
            result = super().cycle(label, hosts, timeout)
        finally:
            self.profile_stop(profile, label)
        time.sleep(0.5)  # the last task's postrun dump
        after = self.image_stats()
        rows = table_counts()
        inventories = ImageInventory.objects.filter(read_at__gte=t0)
        result |= {
            "mode": self.mode,
            "calls": {k: v - before["calls"].get(k, 0) for k, v in after["calls"].items()},
            "image_wall": {k: v - before["wall"].get(k, 0) for k, v in after["wall"].items()},
            "inventories_read": inventories.count(),
            "inventory_status": dict(
                Counter(ImageInventory.objects.values_list("status", flat=True))
            ),
            "all_rows": {k: v - rows_before.get(k, 0) for k, v in rows.items()},
        }
        log(
            f"{label}: {result['inventories_read']} inventories read, calls {dict(result['calls'])}"
        )
        return result

    def profile_start(self, label: str) -> subprocess.Popen[bytes] | None:
        if not self.args.pyspy or not any(p in label for p in self.args.profile.split(",")):
            return None
        out = self.data_dir / f"profile-{len(self.profiles)}.txt"
        self.profiles[label] = out
        return subprocess.Popen(
            [self.args.pyspy, "record", "--pid", str(self.workers[0].pid), "--rate", "50",
             "--gil", "--format", "raw", "--output", str(out), "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def profile_stop(self, profile: subprocess.Popen[bytes] | None, label: str) -> None:
        if profile is None:
            return
        profile.send_signal(2)  # py-spy writes its output on SIGINT
        profile.wait(timeout=60)
        if self.args.profile_dir and self.profiles[label].exists():
            self.args.profile_dir.mkdir(parents=True, exist_ok=True)
            name = label.replace(" ", "_").replace("/", "-").replace(",", "")
            shutil.copy(self.profiles[label], self.args.profile_dir / f"{name}.txt")


def table_counts() -> dict[str, int]:
    from django.db import connection

    prefixes = ("scans_", "hosts_", "findings_", "vulns_")
    counts = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            if table.startswith(prefixes):
                cursor.execute(f'SELECT count(*) FROM "{table}"')
                counts[table] = cursor.fetchone()[0]
    return counts


# --- Report -------------------------------------------------------------------------------


def report(bench: ImageBench, elapsed: float) -> list[str]:
    a, res = bench.args, bench.results
    cycles = res["cycles"]
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if "model name" in ln), "?")
    out = [
        f"- {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; load average"
        f" {' / '.join(f'{x:.2f}' for x in os.getloadavg())} at the end; bench took"
        f" {elapsed / 60:.0f} min",
        f"- CPU {model}, nproc {len(os.sched_getaffinity(0))}; Python {sys.version.split()[0]};"
        f" PostgreSQL (lab bench-img-pg, fsync off), Redis (lab bench-img-redis);"
        f" {a.processes} worker process(es) × {a.concurrency} threads",
        f"- {a.hosts} simulated hosts ({'TLS' if a.tls else 'unix sockets'}), {a.containers}"
        f" containers each, {a.images} images shared by all hosts, {a.latency_ms:g} ms per"
        f" request; experiment: {a.experiment or 'none (the product as it is)'}"
        f"; vulnerability data: lab.vulndata demo + {res['data']['advisories']}"
        f" generated Debian-shaped advisories (import {fmt(res['data']['import_s'], 0)} s)",
        "",
        "| round | cycle | seconds | ratio to its off twin | target | inventories read"
        " (rows / read_inventory calls / archive HEADs+GETs / sim requests beyond off) |",
        "|---:|---|---:|---:|---|---|",
    ]
    twins = {(c["round"], c["kind"], c["mode"]): c for c in cycles}
    ratios: dict[str, list[float]] = defaultdict(list)
    for c in cycles:
        off = twins.get((c["round"], c["kind"], "off"))
        ratio = c["cycle_s"] / off["cycle_s"] if off and c["mode"] != "off" else None
        if ratio is not None:
            ratios[c["kind"]].append(ratio)
        target = ("≤ 1.30" if c["kind"] == "first" else "≤ 1.05") if ratio else ""
        reads = "—"
        if c["mode"] != "off":
            extra = c["requests"] - off["requests"] if off else None
            calls = c["calls"]
            reads = (
                f"{c['inventories_read']} / {calls.get('read', 0)} /"
                f" {calls.get('archive_head', 0)}+{calls.get('archive_get', 0)} /"
                f" {fmt(extra, 0) if extra is not None else '—'}"
            )
        out.append(
            f"| {c['round']} | {c['label']} | {fmt(c['cycle_s'])} | {fmt(ratio, 2)} | {target} |"
            f" {reads} |"
        )
    out += [""]
    for kind in sorted(ratios):
        limit = 1.3 if kind == "first" else 1.05
        median = statistics.median(ratios[kind])
        verdict = "met" if median <= limit else "NOT met"
        out.append(
            f"- {kind} cycle: ratio {median:.2f}"
            f"{' (median of the rounds)' if len(ratios[kind]) > 1 else ''} (≤ {limit}: {verdict})"
        )
    firsts = [c for c in cycles if c["mode"] == "os" and c["kind"] == "first"]
    for c in firsts:
        n, started = c["inventories_read"], c["calls"].get("read", 0)
        verdict = "met" if n == started == a.images else "NOT met"
        out.append(
            f"- round {c['round']} first os cycle: {n} inventories read, {started}"
            f" reads started, {c['calls'].get('read_assessed', 0)} assessed (exactly"
            f" {a.images}: {verdict}); inventory statuses after it {c['inventory_status']}"
        )
    out += [
        "",
        "Where the time goes: CPU seconds per process during the cycle, and the worker threads'"
        " summed wall time per step: bench_fleet's (collect, rules, store = finish.store_success"
        " which includes history, db = inside SQL execute) and the image steps (read ="
        " scans.images.read_inventory; inv_store = vulns.inventories.store, which includes"
        " match, which includes index_for;"
        " run_scan = whole scans):",
        "",
        "| round | cycle | worker CPU | postgres CPU | simulator CPU | machine CPU | run_scan |"
        " statements | " + " | ".join((*FLEET_STEPS, *STEPS)) + " |",
        "|---:|---|" + "---:|" * (6 + len(FLEET_STEPS) + len(STEPS)),
    ]
    for c in cycles:
        cpu, wall = c["cpu"], c["image_wall"]
        out.append(
            f"| {c['round']} | {c['label']} | {fmt(cpu['worker'])} | {fmt(cpu['postgres'])} |"
            f" {fmt(cpu['simulator'])} | {fmt(cpu['machine'])} |"
            f" {fmt(c['steps'].get('run_scan'))} | {int(c['steps'].get('statements', 0))} | "
            + " | ".join(fmt(c["steps"].get(s)) for s in FLEET_STEPS)
            + " | "
            + " | ".join(fmt(wall.get(s), 2) for s in STEPS)
            + " |"
        )
    out += ["", "Rows added per cycle:", ""]
    for c in cycles:
        rows = ", ".join(f"{t} {n:+d}" for t, n in sorted(c["all_rows"].items()) if n)
        out.append(f"- round {c['round']}, {c['label']}: {rows or 'none'}")
    if bench.profiles:
        out += ["", "py-spy profiles (raw, first worker): " + ", ".join(
            f"{label} → {path.name}" for label, path in bench.profiles.items())]  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--containers", type=int, default=50)
    parser.add_argument("--images", type=int, default=50, help="shared by every host")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--concurrency", type=int, default=8, help="threads per worker")
    parser.add_argument("--processes", type=int, default=2, help="worker processes")
    parser.add_argument("--advisories", type=int, default=80_000, help="generated Debian ones")
    parser.add_argument("--unchanged", type=int, default=2, help="unchanged cycles per mode")
    parser.add_argument("--modes", default="off,os", help="their order in odd rounds")
    parser.add_argument("--rounds", type=int, default=1, help="pairs of modes, order alternating")
    parser.add_argument(
        "--experiment",
        choices=["summaries-cache"],
        help="measure a proposed change at run time (see experiment_summaries_cache)",
    )
    parser.add_argument("--pyspy", help="py-spy binary: profile the first worker")
    parser.add_argument("--profile", default="first", help="profile cycles whose label has this")
    parser.add_argument("--profile-dir", type=Path, help="keep the py-spy profiles here")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--keep", action="store_true", help="leave the services running")
    parser.add_argument(
        "--reuse", action="store_true", help="take the template a --keep run left, same sizes"
    )
    args = parser.parse_args()
    modes = args.modes.split(",")
    if sorted(modes) != sorted(MODES):
        parser.error(f"--modes is an order of {', '.join(MODES)}")
    if args.containers < args.images:
        parser.error("--containers must be at least --images: os mode reads from a container")
    data_dir = Path(tempfile.mkdtemp(prefix="posture-fleet-images-"))
    bench = ImageBench(args, data_dir)
    began = time.perf_counter()
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, data_dir, ignore_errors=True)
        stack.callback(lambda: bench.sim.stop() if bench.sim else None)
        stack.callback(bench.stop_worker)
        if not args.keep:
            stack.callback(bench.redis.stop)
            stack.callback(bench.postgres.stop)
        bench.setup()
        log(f"{args.hosts} hosts registered; simulator pid {bench.sim and bench.sim.pid}")
        for n in range(1, args.rounds + 1):
            for mode in modes if n % 2 else reversed(modes):
                bench.fresh_database()
                bench.mode = mode
                bench.start_worker(args.concurrency)
                kinds = ["first"] + [f"unchanged {u}" for u in range(1, args.unchanged + 1)]
                for kind in kinds:
                    label = f"{kind}, image scan {mode}"
                    result = bench.cycle(label)
                    result |= {"round": n, "kind": kind}
        bench.stop_worker()
        lines = report(bench, time.perf_counter() - began)
        print("\n".join(lines), flush=True)
        if args.json:
            args.json.write_text(json.dumps(bench.results, indent=1, default=str))


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        worker_main(Path(sys.argv[2]), sys.argv[3:])
    else:
        main()

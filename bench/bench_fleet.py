"""One fleet scan cycle, the way production runs it, against simulated hosts on loopback.

    python bench/bench_fleet.py --hosts 1000 --containers 50 --latency-ms 20

Registers N hosts pointing at lab.sim_engine's virtual hosts (unix sockets by
default, --tls for mutual TLS on 127.0.0.1 ports), then for each worker concurrency K:
starts a real Celery worker (`celery -A posture worker --pool threads --concurrency K`, on
the lab Redis "bench-redis", with the lab PostgreSQL "bench-pg" and a fresh database
posture_bench), sends scans.tasks.dispatch_due_scans as beat would, and times the cycle
until every ScanRun it queued has finished. Beside it, in the same run, the floor: the same
GETs to the same hosts from K threads of http.client (4 connections per host, as Posture's
pool), with no product code. Then, as asked: the rows written by an unchanged cycle, a
cycle where 5 % of hosts hang and 5 % refuse (short scan deadline), a cycle at --big
containers per host, and the worker's RSS over --memory-cycles cycles.

--processes P starts P such workers (one per core is what a 2-core node can use: a threads
pool is one process, and the GIL keeps it on one core). --pyspy PATH samples the first
worker with `py-spy record --gil` during the first unchanged cycle.

The worker runs through this script's `worker` subcommand: Celery's own entry point, with
timers around run_scan's steps and a counter of SQL writes, both at run time (the product
code is unchanged). Prints markdown; writes nothing into the repository.
"""

# ruff: noqa: E402  (the repository root must be on sys.path before the project imports)
from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lab.process import pid_alive, terminate, wait_until
from lab.services import LabPostgres, LabRedis
from lab.sim_engine import FaultSpec, SimEngine, SimSpec
from lab.sshd import LabSshd

DB_NAME = "posture_bench"
SIM_DIR = "/tmp/pst-sim-bench"
STEPS = ("open_api", "collect", "rules", "store", "db")
_WRITE = re.compile(r'^\s*(INSERT INTO|UPDATE|DELETE FROM)\s+"(\w+)"')
_CLK = os.sysconf("SC_CLK_TCK")


# --- The worker (runs in the Celery subprocess) -------------------------------------------


def worker_main(stats_path: Path, celery_args: list[str]) -> None:
    """Celery's own `worker` command, with step timers and a write counter installed."""
    import django

    django.setup()
    from celery.signals import task_postrun
    from django.db.backends.signals import connection_created

    from policy import profiles
    from scans import finish, services

    lock = threading.Lock()
    stats: dict[str, Any] = {"tasks": 0, "wall": defaultdict(float), "writes": {}}

    def timed(fn: Callable[..., Any], step: str) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                with lock:
                    stats["wall"][step] += time.perf_counter() - started

        return wrapper

    for module, name, step in (
        (services, "open_api", "open_api"),
        (services, "collect", "collect"),
        (services, "evaluate", "rules"),
        (services, "score_host", "rules"),
        (profiles, "apply", "rules"),
        (profiles, "effective", "rules"),
        (finish, "store_success", "store"),
        (finish, "store_failure", "store"),
        (services, "run_scan", "run_scan"),
        (services, "dispatch_due_scans", "dispatch"),
    ):
        setattr(module, name, timed(getattr(module, name), step))

    def count_writes(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = time.perf_counter() - started
            match = _WRITE.match(sql)
            with lock:
                stats["wall"]["db"] += elapsed
                stats["wall"]["statements"] += 1
                if match:
                    key = f"{match[1].split()[0]} {match[2]}"
                    rows = max(context["cursor"].cursor.rowcount, 0)
                    entry = stats["writes"].setdefault(key, [0, 0])
                    entry[0] += 1
                    entry[1] += rows

    def on_connection(sender: Any, connection: Any, **kwargs: Any) -> None:
        # Fired again on every reconnection of the same (thread-local) connection object.
        if count_writes not in connection.execute_wrappers:
            connection.execute_wrappers.append(count_writes)

    connection_created.connect(on_connection, weak=False)

    def dump(**kwargs: Any) -> None:
        with lock:
            stats["tasks"] += 1
            text = json.dumps(stats)
        tmp = stats_path.with_suffix(f".{threading.get_ident()}.tmp")
        tmp.write_text(text)
        tmp.replace(stats_path)

    task_postrun.connect(dump, weak=False)
    from celery.bin.celery import main as celery_main

    sys.argv = ["celery", *celery_args]
    celery_main()


# --- Measuring processes ------------------------------------------------------------------


def proc_status(pid: int, field: str) -> int:
    """A kB field of /proc/<pid>/status (VmRSS, VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024
    return 0


def cpu_seconds(pid: int, children: bool = False) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:  # reaped children (PostgreSQL backends that exited)
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _CLK


def child_pids(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(entry.name))
    return found


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]
    return (sum(ticks) - idle) / _CLK, sum(ticks) / _CLK


class CpuMeter:
    """CPU seconds per component over a stretch of time, and what else the machine did."""

    def __init__(self, pids: dict[str, Callable[[], float]]) -> None:
        self.pids = pids

    def sample(self) -> dict[str, float]:
        out = {name: read() for name, read in self.pids.items()}
        out["machine"], out["machine_total"] = machine_busy()
        return out

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {key: after[key] - before[key] for key in before}


# --- The floor: the same GETs, no product code --------------------------------------------


class Dialed(http.client.HTTPConnection):
    def __init__(self, dial: Callable[[], socket.socket]) -> None:
        super().__init__("docker", timeout=30)
        self._dial = dial

    def connect(self) -> None:
        self.sock = self._dial()


def dialer(url: str, context: ssl.SSLContext | None) -> Callable[[], socket.socket]:
    if url.startswith("unix://"):

        def dial_unix() -> socket.socket:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(30)
            sock.connect(url.removeprefix("unix://"))
            return sock

        return dial_unix
    host, port = url.removeprefix("tcp://").rsplit(":", 1)
    assert context is not None

    def dial_tls() -> socket.socket:
        raw = socket.create_connection((host, int(port)), timeout=30)
        return context.wrap_socket(raw, server_hostname=host)

    return dial_tls


def floor_host(url: str, context: ssl.SSLContext | None, workers: int = 4) -> int:
    """scans.collect's GETs over `workers` keep-alive connections; returns requests made."""
    dial = dialer(url, context)
    local = threading.local()
    made: list[int] = []

    def get(path: str) -> Any:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = Dialed(dial)
            opened.append(conn)
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        made.append(1)
        if response.status != 200:
            raise RuntimeError(f"{url}{path}: HTTP {response.status}")
        return body if path == "/_ping" else json.loads(body)

    opened: list[Dialed] = []
    v = "/v1.41"
    try:
        get("/_ping")
        get("/version")
        get(f"{v}/info")
        containers = [c["Id"] for c in get(f"{v}/containers/json?all=1")]
        images = [i["Id"] for i in get(f"{v}/images/json")]
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda c: get(f"{v}/containers/{c}/json"), containers))
            list(
                pool.map(
                    lambda i: (get(f"{v}/images/{i}/json"), get(f"{v}/images/{i}/history")),
                    images,
                )
            )
        get(f"{v}/networks")
    finally:
        for conn in opened:
            conn.close()
    return len(made)


def floor_cycle(urls: list[str], concurrency: int, context: ssl.SSLContext | None) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda u: floor_host(u, context), urls))
    return time.perf_counter() - started


# --- The bench (runs in this process) -----------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, data_dir: Path) -> None:
        self.args = args
        self.data_dir = data_dir
        self.redis = LabRedis("bench-redis")
        self.postgres = LabPostgres("bench-pg")
        self.sim: SimEngine | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.profile: subprocess.Popen[bytes] | None = None
        self.worker_env: dict[str, str] = {}
        self.concurrency = 0
        self.results: dict[str, Any] = {"cycles": [], "floors": [], "memory": []}
        # --ssh N: real sshds on 127.0.0.2, .3, … that every host is reached through.
        self.sshds = [
            LabSshd(
                f"bench-fleet-ssh{i}",
                host=f"127.0.0.{i + 2}",
                max_sessions=64,
                # Sessions skip root's ~/.bashrc (see bench_scan.PLAIN_LOGIN).
                extra_config=("SetEnv SHLVL=1",),
            )
            for i in range(args.ssh)
        ]

    # services and Django
    def setup(self) -> None:
        import psycopg

        self.redis.start()
        self.postgres.start()
        for sshd in self.sshds:
            sshd.start()
        info = self.postgres.info
        with psycopg.connect(info.url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
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
        call_command("migrate", verbosity=0)

    def start_sim(self, containers: int, faults: tuple[FaultSpec, ...] = ()) -> SimEngine:
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

    def repoint_hosts(self) -> None:
        """TLS hosts get new ports when the simulator restarts; unix sockets keep paths."""
        from hosts.models import Host

        assert self.sim is not None
        if self.args.ssh:
            return  # ssh:// records name the simulator's sockets, whose paths are kept
        urls = {h["name"]: h["url"] for h in self.sim.hosts}
        for host in Host.objects.filter(name__in=urls).only("name", "endpoint"):
            if host.endpoint != urls[host.name]:
                Host.objects.filter(pk=host.pk).update(endpoint=urls[host.name])

    def register_hosts(self) -> None:
        from hosts.models import Host

        assert self.sim is not None
        tls = self.sim.endpoints["tls"]
        creds = [Path(tls[k]).read_text() if tls else "" for k in ("ca_cert", "client_cert")]
        key = Path(tls["client_key"]).read_text() if tls else ""
        future = datetime.datetime(2100, 1, 1, tzinfo=datetime.UTC)
        hosts = []
        for n, entry in enumerate(self.sim.hosts):
            host = Host(name=entry["name"], endpoint=entry["url"], next_scan_at=future)
            host.tls_ca_cert, host.tls_client_cert = creds
            host.set_tls_client_key(key)
            if self.sshds:
                # The simulated host's socket reached through one of the sshds, in turn.
                sshd = self.sshds[n % len(self.sshds)]
                socket_path = entry["url"].removeprefix("unix://")
                host.endpoint = f"{sshd.ssh_url}?socket={socket_path}"
                host.ssh_host_key = sshd.host_public_key
                host.set_ssh_private_key(sshd.client_private_key)
            hosts.append(host)
        Host.objects.bulk_create(hosts, batch_size=500)

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.args.tls:
            return None
        assert self.sim is not None
        tls = self.sim.endpoints["tls"]
        context = ssl.create_default_context(cafile=tls["ca_cert"])
        context.load_cert_chain(tls["client_cert"], tls["client_key"])
        return context

    # the worker
    def start_worker(self, concurrency: int, deadline: int | None = None) -> None:
        """`processes` worker processes (one by default), each with `concurrency` threads."""
        self.stop_worker()
        self.concurrency = concurrency
        env = {**os.environ, **self.worker_env}
        env.pop("POSTURE_SCAN_DEADLINE", None)
        if deadline:
            env["POSTURE_SCAN_DEADLINE"] = str(deadline)
        for n in range(self.args.processes):
            stats = self.data_dir / f"worker-stats-{n}.json"
            stats.unlink(missing_ok=True)
            celery_args = [
                "-A", "posture", "worker", "--pool", "threads", "--concurrency", str(concurrency),
                "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
                "--without-heartbeat", "-n", f"bench-{concurrency}-{n}@%h",
            ]  # fmt: skip
            log = (self.data_dir / "worker.log").open("ab")
            self.workers.append(
                subprocess.Popen(
                    [sys.executable, __file__, "worker", str(stats), *celery_args],
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            log.close()
        from posture.celery import app

        def ready() -> bool:
            return len(app.control.ping(timeout=0.5)) >= len(self.workers)

        if not wait_until(ready, timeout=60, interval=0.5):
            raise RuntimeError("the Celery workers did not answer a ping within 60 s")

    def stop_worker(self) -> None:
        for worker in self.workers:
            if pid_alive(worker.pid):
                terminate(worker.pid, timeout=60)
        self.workers = []

    def worker_stats(self) -> dict[str, Any]:
        total: dict[str, Any] = {"tasks": 0, "wall": defaultdict(float), "writes": {}}
        for n in range(len(self.workers)):
            try:
                one = json.loads((self.data_dir / f"worker-stats-{n}.json").read_text())
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

    def rss(self, field: str) -> int:
        return max(proc_status(w.pid, field) for w in self.workers)

    def start_profile(self, label: str) -> None:
        if not self.args.pyspy or self.profile is not None:
            return
        out = self.data_dir / f"profile-{self.concurrency}.txt"
        self.results["profile"] = {"label": label, "path": str(out)}
        self.profile = subprocess.Popen(
            [self.args.pyspy, "record", "--pid", str(self.workers[0].pid), "--rate", "50", "--gil",
             "--format", "raw", "--output", str(out), "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def stop_profile(self) -> None:
        if self.profile is not None:
            self.profile.send_signal(2)  # py-spy writes its output on SIGINT
            self.profile.wait(timeout=60)
            path = Path(self.results["profile"]["path"])
            if self.args.json and path.exists():
                shutil.copy(path, self.args.json.with_suffix(".pyspy.txt"))

    def meter(self) -> CpuMeter:
        assert self.workers and self.sim is not None
        workers, sim = [w.pid for w in self.workers], self.sim.pid
        postmaster, redis = self.postgres.pid or 0, self.redis.pid or 0

        def postgres() -> float:
            own = cpu_seconds(postmaster, children=True)
            return own + sum(cpu_seconds(pid) for pid in child_pids(postmaster))

        return CpuMeter(
            {
                # With its reaped children: an ssh client's CPU is the worker's.
                "worker": lambda: sum(cpu_seconds(pid, children=True) for pid in workers),
                "simulator": lambda: cpu_seconds(sim),
                "postgres": postgres,
                "redis": lambda: cpu_seconds(redis),
                "bench": lambda: cpu_seconds(os.getpid()),
            }
        )

    # one cycle
    def cycle(self, label: str, hosts: int | None = None, timeout: float = 1800) -> dict[str, Any]:
        from django.db.models import Max
        from django.utils import timezone

        from hosts.models import Host
        from scans.models import ScanRun
        from scans.tasks import dispatch_due_scans

        assert self.workers and self.sim is not None
        names = [h["name"] for h in self.sim.hosts][: hosts or self.args.hosts]
        faulty = {h["name"] for h in self.sim.hosts if h["fault"]}
        now = timezone.now()
        Host.objects.filter(name__in=names).update(next_scan_at=now - datetime.timedelta(seconds=1))
        meter, stats_before = self.meter(), self.worker_stats()
        rows_before = table_counts()
        requests_before = self.sim.stats()["requests"]
        cpu_before = meter.sample()
        t0 = timezone.now()
        started = time.perf_counter()
        dispatch_due_scans.delay()
        runs = ScanRun.objects.filter(requested_at__gte=t0, host__name__in=names)
        while time.perf_counter() - started < timeout:
            done = runs.exclude(status__in=ScanRun.ACTIVE).count()
            if done == len(names):
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"{label}: {done}/{len(names)} scans finished in {timeout:.0f}s")
        cpu = CpuMeter.delta(cpu_before, meter.sample())
        rows = {k: v - rows_before.get(k, 0) for k, v in table_counts().items()}
        stats_after = self.worker_stats()
        healthy = runs.exclude(host__name__in=faulty)
        last = runs.aggregate(Max("finished_at"))["finished_at__max"]
        last_healthy = healthy.aggregate(Max("finished_at"))["finished_at__max"]
        last_queued = runs.aggregate(Max("requested_at"))["requested_at__max"]
        durations = sorted(d / 1000 for d in healthy.values_list("duration_ms", flat=True) if d)
        statuses: dict[str, int] = defaultdict(int)
        for status, error in runs.values_list("status", "error_class"):
            statuses[f"{status}{':' + error if error else ''}"] += 1
        result = {
            "label": label,
            "concurrency": self.concurrency,
            "containers": self.sim.spec.containers,
            "hosts": len(names),
            "cycle_s": (last - t0).total_seconds(),
            "healthy_cycle_s": (last_healthy - t0).total_seconds() if last_healthy else None,
            "dispatch_s": (last_queued - t0).total_seconds(),
            "p50_s": statistics.median(durations) if durations else None,
            "p95_s": quantile(durations, 0.95),
            "statuses": dict(statuses),
            "cpu": cpu,
            "rows": {k: v for k, v in rows.items() if v},
            "requests": self.sim.stats()["requests"] - requests_before,
            "steps": diff_wall(stats_before, stats_after),
            "writes": diff_writes(stats_before, stats_after),
            "rss_mib": self.rss("VmRSS"),
            "hwm_mib": self.rss("VmHWM"),
            "processes": len(self.workers),
        }
        self.results["cycles"].append(result)
        log(
            f"{label}: {result['cycle_s']:.1f}s for {len(names)} hosts, "
            f"{dict(statuses)}, worker RSS {result['rss_mib']} MiB"
        )
        return result

    def floor(self, concurrency: int, hosts: int | None = None) -> dict[str, Any]:
        assert self.sim is not None
        urls = [h["url"] for h in self.sim.hosts if not h["fault"]][: hosts or self.args.hosts]
        before = self.sim.stats()["requests"]
        cpu_before = cpu_seconds(os.getpid()), cpu_seconds(self.sim.pid)
        elapsed = floor_cycle(urls, concurrency, self.ssl_context())
        result = {
            "concurrency": concurrency,
            "containers": self.sim.spec.containers,
            "hosts": len(urls),
            "cycle_s": elapsed,
            "requests": self.sim.stats()["requests"] - before,
            "cpu_client": cpu_seconds(os.getpid()) - cpu_before[0],
            "cpu_simulator": cpu_seconds(self.sim.pid) - cpu_before[1],
        }
        self.results["floors"].append(result)
        log(f"floor K={concurrency}: {elapsed:.1f}s for {len(urls)} hosts")
        return result


def table_counts() -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        tables = [t for t in connection.introspection.table_names(cursor) if "_" in t]
        counts = {}
        for table in tables:
            if table.startswith(("scans_", "hosts_")):
                cursor.execute(f'SELECT count(*) FROM "{table}"')
                counts[table] = cursor.fetchone()[0]
    return counts


def diff_wall(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
    b, a = before.get("wall", {}), after.get("wall", {})
    return {k: a[k] - b.get(k, 0) for k in a}


def diff_writes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[int]]:
    b, a = before.get("writes", {}), after.get("writes", {})
    out = {}
    for key, (statements, rows) in a.items():
        s0, r0 = b.get(key, (0, 0))
        if statements - s0:
            out[key] = [statements - s0, rows - r0]
    return out


def quantile(values: list[float], q: float) -> float | None:
    if len(values) < 2:
        return values[0] if values else None
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- Report -------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def transport_name(args: argparse.Namespace) -> str:
    if args.ssh:
        return f"ssh:// through {args.ssh} sshd(s) on 127.0.0.2+ to unix sockets"
    return "TLS" if args.tls else "unix sockets"


def report(bench: Bench, best: int, elapsed: float) -> list[str]:
    a, res = bench.args, bench.results
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if "model name" in ln), "?")
    floors = {(f["concurrency"], f["containers"]): f for f in res["floors"]}
    out = [
        f"- {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; load average"
        f" {' / '.join(f'{x:.2f}' for x in os.getloadavg())} at the end; bench took"
        f" {elapsed / 60:.0f} min",
        f"- CPU {model}, nproc {len(os.sched_getaffinity(0))}; Python {sys.version.split()[0]};"
        f" PostgreSQL (lab bench-pg, fsync off), Redis (lab bench-redis)",
        f"- {a.hosts} simulated hosts ({transport_name(a)}), {a.containers}"
        f" containers and {a.images} images each, {a.latency_ms:g} ms per request",
        "",
        "| cycle | processes×K | hosts | cycle s | healthy s | × floor | dispatch s | scan p50 s"
        " | scan p95 s | requests | outcome |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for c in res["cycles"]:
        k = c.get("concurrency")
        floor = floors.get((k, c["containers"])) if c["processes"] == 1 else None
        ratio = (
            fmt(c["cycle_s"] / floor["cycle_s"], 2)
            if floor and c["hosts"] == floor["hosts"]
            else "—"
        )
        outcome = ", ".join(f"{n} {s}" for s, n in sorted(c["statuses"].items()))
        out.append(
            f"| {c['label']} | {c['processes']}×{k} | {c['hosts']} | {fmt(c['cycle_s'])} |"
            f" {fmt(c['healthy_cycle_s'])} | {ratio} | {fmt(c['dispatch_s'])} |"
            f" {fmt(c['p50_s'], 2)} | {fmt(c['p95_s'], 2)} | {c['requests']} | {outcome} |"
        )
    out += [
        "",
        "Floor (same GETs, http.client, K hosts at a time, 4 connections per host,"
        " no product code):",
        "",
        "| K | hosts | cycle s | requests | client CPU s | simulator CPU s |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for f in res["floors"]:
        out.append(
            f"| {f['concurrency']} | {f['hosts']} | {fmt(f['cycle_s'])} | {f['requests']} |"
            f" {fmt(f['cpu_client'])} | {fmt(f['cpu_simulator'])} |"
        )
    out += [
        "",
        "Where the cycle's time goes: CPU seconds per process (machine = every process on the"
        " machine, of 2 × cycle s available; other = processes not part of the bench), and"
        " the worker's threads' summed wall time per step of run_scan (db = time inside SQL"
        " execute, also counted in its step):",
        "",
        "| cycle | processes×K | worker | simulator | postgres | redis | machine | "
        + " | ".join(STEPS)
        + " | statements |",
        "|---|---:|" + "---:|" * (6 + len(STEPS)),
    ]
    for c in res["cycles"]:
        cpu, steps = c["cpu"], c["steps"]
        others = sum(cpu[k] for k in ("worker", "simulator", "postgres", "redis", "bench"))
        out.append(
            f"| {c['label']} | {c['processes']}×{c['concurrency']} | {fmt(cpu['worker'])} |"
            f" {fmt(cpu['simulator'])} | {fmt(cpu['postgres'])} | {fmt(cpu['redis'])} |"
            f" {fmt(cpu['machine'])} ({fmt(cpu['machine'] - others)} other) | "
            + " | ".join(fmt(steps.get(s)) for s in STEPS)
            + f" | {int(steps.get('statements', 0))} |"
        )
    out += ["", "Rows and writes per cycle (row-count change per table; SQL writes as"
            " statements/rows):", ""]  # fmt: skip
    for c in res["cycles"]:
        rows = ", ".join(f"{t} {n:+d}" for t, n in sorted(c["rows"].items())) or "none"
        writes = ", ".join(f"{k} {s}/{r}" for k, (s, r) in sorted(c["writes"].items()))
        out.append(f"- {c['label']} (K={c.get('concurrency')}): rows {rows}; writes {writes}")
    if res["memory"]:
        series = ", ".join(str(m) for m in res["memory"])
        out += [
            "",
            f"Worker RSS (MiB) after each of {len(res['memory'])} cycles of {a.memory_hosts}"
            f" hosts, K={best}: {series}; peak (VmHWM) {res.get('memory_hwm')} MiB",
        ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--containers", type=int, default=50)
    parser.add_argument("--images", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--tls", action="store_true")
    parser.add_argument(
        "--ssh", type=int, default=0, help="reach the hosts over ssh:// through N lab sshds"
    )
    parser.add_argument("--concurrency", default="8,16,32", help="worker threads to try")
    parser.add_argument("--fault-deadline", type=int, default=10)
    parser.add_argument("--big", type=int, default=0, help="also a cycle at this many containers")
    parser.add_argument("--memory-hosts", type=int, default=200)
    parser.add_argument("--memory-cycles", type=int, default=0)
    parser.add_argument("--processes", type=int, default=1, help="worker processes")
    parser.add_argument("--pyspy", help="py-spy binary: profile the first unchanged cycle")
    parser.add_argument("--skip", default="", help="comma list of: floor,faults")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--keep", action="store_true", help="leave the services running")
    args = parser.parse_args()
    ks = [int(k) for k in args.concurrency.split(",")]
    skip = set(args.skip.split(","))
    data_dir = Path(tempfile.mkdtemp(prefix="posture-fleet-"))
    bench = Bench(args, data_dir)
    began = time.perf_counter()
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, data_dir, ignore_errors=True)
        stack.callback(lambda: bench.sim and bench.sim.stop())
        stack.callback(bench.stop_worker)
        if not args.keep:  # bench-redis and bench-pg are this script's own
            stack.callback(bench.redis.stop)
            stack.callback(bench.postgres.stop)
            for sshd in bench.sshds:
                stack.callback(sshd.stop)
        bench.setup()
        bench.start_sim(args.containers)
        bench.register_hosts()
        log(f"{args.hosts} hosts registered; simulator pid {bench.sim and bench.sim.pid}")

        # First cycle (every row new) once, then an unchanged cycle per K, each K beside
        # its floor.
        times = {}
        for i, k in enumerate(ks):
            bench.start_worker(k)
            if i == 0:
                bench.cycle("first (all new)")
                bench.start_profile("unchanged")
            times[k] = bench.cycle("unchanged")["cycle_s"]
            bench.stop_profile()
            if "floor" not in skip:
                bench.floor(k)
        best = min(times, key=lambda k: times[k])
        log(f"best concurrency {best}")

        if "faults" not in skip:
            faults = (FaultSpec("hang", fraction=0.05), FaultSpec("refuse", fraction=0.05))
            bench.start_sim(args.containers, faults)
            bench.start_worker(best, deadline=args.fault_deadline)
            bench.cycle(f"5% hang + 5% refuse, deadline {args.fault_deadline}s")
            bench.start_sim(args.containers)
            bench.cycle(f"clean, deadline {args.fault_deadline}s")

        if args.memory_cycles:
            bench.start_worker(best)
            for n in range(args.memory_cycles):
                c = bench.cycle(f"memory {n + 1}", hosts=args.memory_hosts)
                bench.results["memory"].append(c["rss_mib"])
            bench.results["memory_hwm"] = c["hwm_mib"]

        if args.big:
            bench.start_sim(args.big)
            bench.start_worker(best)
            bench.cycle(f"first at {args.big} containers")
            bench.cycle(f"unchanged at {args.big} containers")
            if "floor" not in skip:
                bench.floor(best)

        lines = report(bench, best, time.perf_counter() - began)
        print("\n".join(lines), flush=True)
        if args.json:
            args.json.write_text(json.dumps(bench.results, indent=1, default=str))


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        worker_main(Path(sys.argv[2]), sys.argv[3:])
    else:
        main()

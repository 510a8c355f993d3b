"""What a Posture scan costs over the bare Engine API calls it makes, measured in one run.

    python bench/bench_scan.py --containers 200 --repeat 5

Uses its own lab dockerd "bench" (mutual TLS on loopback) and lab sshd "bench-ssh" holding
N containers, and times interleaved rounds (a warm-up, then --repeat) of: the floor, i.e.
the GETs scans.collect makes, sequentially and without product code (docker-py's
APIClient; http.client with HTTP/1.1 keep-alive); open_api + collect; and request_scan +
run_scan into a throwaway SQLite database, for a new host each round ("first") and one host
rescanned unchanged ("rescan"). The SSH floor cannot be docker-py, whose ssh:// transport
takes neither a key object nor a pinned host key: it is one paramiko channel running
`docker system dial-stdio`, with http.client over it. Beside it, the SSH clients issue 15
weighed (bench/ssh_candidates.py: OpenSSH's master with a forwarded socket, asyncssh where
installed, paramiko tuned), and "ssh-paramiko": the product's scans with the paramiko client
it falls back to. Every measurement also records CPU seconds of this process and of its
waited-for children (an ssh child's CPU counts). --plain-login gives the bench sshd
`SetEnv SHLVL=1` (see PLAIN_LOGIN). Prints markdown; writes no files.
"""

# ruff: noqa: E402  (the repository root must be on sys.path before the project imports)
from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import http.client
import importlib.util
import json
import os
import re
import resource
import shutil
import socket
import ssl
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import docker
import paramiko

from bench import ssh_candidates as candidates
from hosts.credentials import Credentials
from hosts.endpoints import parse_endpoint
from lab.daemon import API_VERSION, LabDaemon
from lab.images import DEFAULT_TAG, import_image
from lab.pki import make_pki
from lab.process import lab_root
from lab.sshd import LabSshd
from scans import transports
from scans.collect import collect
from scans.transports import Limits, open_api
from scans.transports.ssh import open_streamlocal

TRANSPORTS = ("tls", "ssh", "ssh-paramiko", "unix")
BASE = {"ssh-paramiko": "ssh"}  # a variant reaches the same lab service as its base
# A start costs ~0.1 s (runc, containerd) and a create ~10 ms on two cores: running a fifth
# of 200 keeps a cold set-up under 10 s.
START_EVERY = 5
STEPS = ("open_api", "collect", "rules", "store", "rest")
_WRITE = re.compile(r'^\s*(INSERT INTO|UPDATE|DELETE FROM)\s+"(\w+)"')
Run = Callable[[int], object]  # one measurement, given the round number
# Seconds spent in each step of run_scan during the current measurement.
PHASES: defaultdict[str, float] = defaultdict(float)
# CPU seconds (this process and its children) of each measurement, per round.
CPU: defaultdict[str, list[float]] = defaultdict(list)


# bash sources ~/.bashrc for a command sshd runs only in a top-level shell (SHLVL < 2): with
# SHLVL=1 set by sshd, the host-check shell's login costs what a server's stock rc files
# cost, not what a developer's (pyenv init: ~0.6 s here) does.
PLAIN_LOGIN = ("SetEnv SHLVL=1",)


class Lab:
    def __init__(self, plain_login: bool = False) -> None:
        self.pki = make_pki(lab_root("bench-pki"))
        self.daemon = LabDaemon("bench", tls=self.pki)
        self.sshd = LabSshd("bench-ssh", extra_config=PLAIN_LOGIN if plain_login else ())

    def url(self, transport: str) -> str:
        transport = BASE.get(transport, transport)
        ssh = f"{self.sshd.ssh_url}?socket={self.daemon.socket_path}"
        return {"tls": self.daemon.tcp_url, "ssh": ssh, "unix": self.daemon.unix_url}[transport]

    def creds(self, transport: str) -> Credentials:
        transport = BASE.get(transport, transport)
        pem, sshd = self.pki.pem, self.sshd
        if transport == "tls":
            return Credentials(pem("ca_cert"), pem("client_cert"), pem("client_key"))
        if transport == "ssh":
            key, host_key = sshd.client_private_key, sshd.host_public_key
            return Credentials(ssh_private_key=key, ssh_host_key=host_key)
        return Credentials()


def container_options(i: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """HostConfig and Config options, mixed so that every container rule has work to do."""
    host: dict[str, Any] = {"network_mode": "none"}
    config: dict[str, Any] = {}
    if i % 10 == 0:
        host["cap_add"] = ["SYS_ADMIN", "NET_ADMIN"]
    if i % 3 == 0:
        host["read_only"] = True
    if i % 4 == 0:
        host.update(mem_limit="64m", pids_limit=64)
    if i % 6 == 0:
        host.update(cap_drop=["ALL"], security_opt=["no-new-privileges:true"])
    if i % 7 == 0:
        config["user"] = "1000:1000"
    if i % 9 == 0:
        config["environment"] = {"API_TOKEN": f"bench-{i:04d}-Zm9vYmFyYmF6cXV4"}
    return host, config


def ensure_containers(client: docker.APIClient, count: int) -> str:
    """Exactly bench-0..count-1, every fifth running; what already exists is kept."""
    wanted = {f"bench-{i}": i for i in range(count)}

    def listing() -> dict[str, dict[str, Any]]:
        return {(c["Names"] or ["/"])[0].lstrip("/"): c for c in client.containers(all=True)}

    def create(name: str) -> None:
        host, config = container_options(wanted[name])
        host_config = client.create_host_config(**host)
        client.create_container(
            DEFAULT_TAG, ["sleep", "3600"], name=name, host_config=host_config, **config
        )

    found = listing()
    doomed = [c["Id"] for n, c in found.items() if n not in wanted or c["Image"] != DEFAULT_TAG]
    missing = [n for n in wanted if n not in found or found[n]["Id"] in doomed]
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda ident: client.remove_container(ident, force=True), doomed))
        list(pool.map(create, missing))
        created = time.monotonic()
        found = listing()  # `sleep 3600` ends after an hour: a later run restarts those
        to_start = [
            found[n]["Id"]
            for n, i in wanted.items()
            if i % START_EVERY == 0 and found[n]["State"] != "running"
        ]
        list(pool.map(client.start, to_start))
    return (
        f"removed {len(doomed)}, created {len(missing)} in {created - started:.1f}s,"
        f" started {len(to_start)} in {time.monotonic() - created:.1f}s"
    )


def setup_django(data_dir: Path) -> None:
    # Settings read the environment when first imported: a private SQLite file, quiet logs.
    os.environ.update(
        POSTURE_DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE="posture.settings",
        POSTURE_DB_ENGINE="sqlite",
        POSTURE_LOG_LEVEL="WARNING",
    )
    os.environ.pop("POSTURE_DB_NAME", None)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from scans import finish, services

    # run_scan reaches these through module attributes: timers go around them at run time,
    # the product code is unchanged.
    for module, name, step in (
        (services, "open_api", "open_api"),
        (services, "collect", "collect"),
        (services, "evaluate", "rules"),
        (services, "score_host", "rules"),
        (finish, "store_success", "store"),
    ):
        setattr(module, name, timed(getattr(module, name), step))


def timed(fn: Callable[..., Any], step: str) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            PHASES[step] += time.perf_counter() - started

    return wrapper


def make_host(lab: Lab, transport: str, name: str) -> Any:
    from hosts.models import Host

    creds = lab.creds(transport)
    host = Host(name=name, endpoint=lab.url(transport), tls_ca_cert=creds.ca_cert)
    host.tls_client_cert, host.ssh_host_key = creds.client_cert, creds.ssh_host_key
    host.set_tls_client_key(creds.client_key)
    host.set_ssh_private_key(creds.ssh_private_key)
    host.save()
    return host


def floor_docker_py(client: docker.APIClient) -> None:
    with client:
        client.ping()
        client.version(api_version=False)
        client.info()
        for container in client.containers(all=True):
            client.inspect_container(container["Id"])
        for image in client.images():
            client.inspect_image(image["Id"])
            client.history(image["Id"])
        client.networks()


class DialedConnection(http.client.HTTPConnection):
    """http.client over a socket-like object opened by `dial`: a unix socket, an SSH channel."""

    def __init__(self, dial: Callable[[], Any]) -> None:
        super().__init__("docker")
        self._dial = dial

    def connect(self) -> None:
        self.sock = self._dial()


def floor_http(conn: http.client.HTTPConnection) -> None:
    def get(path: str) -> Any:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}")
        return body if path == "/_ping" else json.loads(body)

    v = f"/v{API_VERSION}"
    with contextlib.closing(conn):
        get("/_ping")
        get("/version")
        get(f"{v}/info")
        for container in get(f"{v}/containers/json?all=1"):
            get(f"{v}/containers/{container['Id']}/json")
        for image in get(f"{v}/images/json"):
            get(f"{v}/images/{image['Id']}/json")
            get(f"{v}/images/{image['Id']}/history")
        get(f"{v}/networks")


def http_tls(lab: Lab) -> http.client.HTTPConnection:
    context = ssl.create_default_context(cafile=str(lab.pki.ca_cert))
    context.load_cert_chain(str(lab.pki.client_cert), str(lab.pki.client_key))
    return http.client.HTTPSConnection(lab.daemon.tcp_host, lab.daemon.tcp_port, context=context)


def http_unix(lab: Lab) -> http.client.HTTPConnection:
    def dial() -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(lab.daemon.socket_path))
        return sock

    return DialedConnection(dial)


def session(client: paramiko.SSHClient, command: str) -> paramiko.Channel:
    transport = client.get_transport()
    if transport is None:
        raise RuntimeError("the SSH connection is closed")
    channel = transport.open_session()
    channel.exec_command(command)
    return channel


def floor_ssh(lab: Lab) -> None:
    """The same GETs over one SSH connection, each HTTP connection a streamlocal channel
    to the daemon's socket (what `ssh -L` does; the product opens the same channel)."""
    with lab.sshd.connect() as client:  # pinned host key, RejectPolicy, the lab's client key
        path = str(lab.daemon.socket_path)

        def forward() -> paramiko.Channel:
            transport = client.get_transport()
            if transport is None:
                raise RuntimeError("the SSH connection is closed")
            return open_streamlocal(transport, path, 10.0)

        floor_http(DialedConnection(forward))


def floor_ssh_dial_stdio(lab: Lab) -> None:
    """docker-py's way for comparison: channels each running `docker system dial-stdio`."""
    with lab.sshd.connect() as client:
        dial_stdio = f"docker -H {lab.daemon.unix_url} system dial-stdio"
        floor_http(DialedConnection(lambda: session(client, dial_stdio)))


def ssh_session_start(lab: Lab) -> float:
    """Median of `exec true` on an open connection: sshd plus the remote login shell's own
    start-up, which every dial-stdio channel pays before it relays a byte."""
    times = []
    with lab.sshd.connect() as client:
        for _ in range(5):
            started = time.perf_counter()
            session(client, "true").recv_exit_status()
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def posture_collect(lab: Lab, transport: str, opened: dict[str, int]) -> None:
    endpoint, creds = parse_endpoint(lab.url(transport)), lab.creds(transport)
    with open_api(endpoint, creds, Limits()) as api:  # the product's default limits
        collect(api)
        # Connections the scan's pool opened: over SSH, streamlocal channels to the socket.
        opened[transport] = api.pool.num_connections


def full_scan(host: Any) -> None:
    from scans import services

    scan, _ = services.request_scan(host, enqueue=False)
    done = services.run_scan(scan.pk)
    if done.status != "succeeded":
        raise RuntimeError(f"scan of {host.name}: {done.error_class} {done.error_detail}")


def writes_of(label: str, host: Any) -> str:
    """Scan `host` once more and list its write statements by table."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        full_scan(host)
    matches = (_WRITE.match(query["sql"]) for query in ctx.captured_queries)
    writes = Counter(f"{m[1].split()[0]} {m[2]}" for m in matches if m)
    listed = ", ".join(f"{k} ×{n}" for k, n in sorted(writes.items()))
    return f"- {label}: {len(ctx)} statements; writes: {listed}"


def measures(
    lab: Lab, rounds: int, rescan: dict[str, Any], opened: dict[str, int]
) -> dict[str, Run]:
    """name -> run(round), in report order; "full first" scans a new host every round."""
    remote = (lab.sshd, str(lab.daemon.socket_path))
    first = {(t, r): make_host(lab, t, f"first-{t}-{r}") for t in TRANSPORTS for r in range(rounds)}
    floors: dict[str, dict[str, Run]] = {
        "tls": {
            "docker-py": lambda r: floor_docker_py(lab.daemon.tls_api_client()),
            "http.client": lambda r: floor_http(http_tls(lab)),
        },
        "ssh": {
            "http.client": lambda r: floor_ssh(lab),
            "dial-stdio": lambda r: floor_ssh_dial_stdio(lab),
            "paramiko-tuned": lambda r: candidates.floor_paramiko_tuned(floor_http, *remote),
            **(
                {"asyncssh": lambda r: candidates.floor_asyncssh(floor_http, *remote)}
                if importlib.util.find_spec("asyncssh")  # not locked: installed to measure
                else {}
            ),
            "openssh": lambda r: candidates.floor_openssh(floor_http, *remote),
            "openssh aes128-gcm": lambda r: candidates.floor_openssh(
                floor_http, *remote, "aes128-gcm@openssh.com"
            ),
        },
        "ssh-paramiko": {},
        "unix": {
            "docker-py": lambda r: floor_docker_py(lab.daemon.api_client()),
            "http.client": lambda r: floor_http(http_unix(lab)),
        },
    }
    out: dict[str, Run] = {}
    for t in TRANSPORTS:
        out |= {f"{t} floor {name}": run for name, run in floors[t].items()}
        out[f"{t} collect"] = functools.partial(lambda t, r: posture_collect(lab, t, opened), t)
        out[f"{t} full first"] = functools.partial(lambda t, r: full_scan(first[t, r]), t)
        out[f"{t} full rescan"] = functools.partial(lambda t, r: full_scan(rescan[t]), t)
    return {name: with_client(name, run) for name, run in out.items()}


def with_client(name: str, run: Run) -> Run:
    """ssh-paramiko: the same product code with the SSH client it had before issue 15."""
    if not name.startswith("ssh-paramiko "):
        return run

    def paramiko_run(r: int) -> object:
        chosen, transports.SSH_CLIENT = transports.SSH_CLIENT, "paramiko"
        try:
            return run(r)
        finally:
            transports.SSH_CLIENT = chosen

    return paramiko_run


def report(
    samples: dict[str, list[float]], phases: dict[str, list[dict[str, float]]], lab: Lab
) -> list[str]:
    med = {key: statistics.median(values) for key, values in samples.items()}
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if "model name" in ln), "?")
    with lab.daemon.api_client() as client:
        engine = client.version()
    out = [
        f"- {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; load average"
        f" {' / '.join(f'{x:.2f}' for x in os.getloadavg())} at the end",
        f"- CPU {model}, nproc {len(os.sched_getaffinity(0))}; Python {sys.version.split()[0]}",
        f"- Docker Engine {engine['Version']} (API {engine['ApiVersion']}),"
        f" docker-py {docker.__version__}, paramiko {paramiko.__version__}",
        "",
        "| transport | measurement | median s | p90 s | × docker-py floor | × http.client floor"
        " | CPU s (median) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for key, values in samples.items():
        transport, what = key.split(" ", 1)
        # Interpolated: with 5 rounds, p90 lies between the 4th and the 5th value.
        p90 = statistics.quantiles(values, n=10, method="inclusive")[8]
        ratios = [
            f"{med[key] / med[floor]:.2f}" if floor in med else "—"
            for floor in (f"{transport} floor docker-py", f"{transport} floor http.client")
        ]
        cpu = statistics.median(CPU[key]) if CPU[key] else float("nan")
        out.append(
            f"| {transport} | {what} | {med[key]:.3f} | {p90:.3f} | {' | '.join(ratios)}"
            f" | {cpu:.3f} |"
        )
    out += [
        "",
        "Where a full scan's time goes, median seconds per step (`rest`: request_scan, the"
        " claim and reads in run_scan, decrypting credentials, closing the connection):",
        "",
        f"| transport | scan | {' | '.join(STEPS)} |",
        "|---|---|" + "---:|" * len(STEPS),
    ]
    for key, runs in phases.items():
        cells = " | ".join(f"{statistics.median(run[s] for run in runs):.3f}" for s in STEPS)
        out.append(f"| {key.replace(' full ', ' | ')} | {cells} |")
    out += ["", "Ratios of medians:", ""]
    for t in ("tls", "ssh", "unix"):
        floor = "ssh floor http.client" if t == "ssh" else f"{t} floor docker-py"
        out.append(
            f"- {t}: full first / {floor} {med[f'{t} full first'] / med[floor]:.2f},"
            f" full rescan / floor {med[f'{t} full rescan'] / med[floor]:.2f}"
        )
    for what in ("floor http.client", "collect", "full first", "full rescan"):
        out.append(f"- SSH / TLS, {what}: {med[f'ssh {what}'] / med[f'tls {what}']:.2f}")
    cpu = {key: statistics.median(values) for key, values in CPU.items() if values}
    for ssh in ("ssh", "ssh-paramiko"):
        for what in ("collect", "full first", "full rescan"):
            out.append(
                f"- {ssh} / TLS, {what}: time {med[f'{ssh} {what}'] / med[f'tls {what}']:.2f},"
                f" CPU {cpu[f'{ssh} {what}'] / cpu[f'tls {what}']:.2f}"
            )
    return out


def cpu_seconds() -> float:
    """This process's CPU and its waited-for children's: an ssh child's CPU counts."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="leave dockerd and sshd running")
    parser.add_argument(
        "--plain-login",
        action="store_true",
        help="the bench sshd's sessions skip root's ~/.bashrc (SetEnv SHLVL=1)",
    )
    args = parser.parse_args()
    if args.repeat < 2:
        parser.error("--repeat needs at least 2 rounds for a p90")
    lab = Lab(plain_login=args.plain_login)
    data_dir = Path(tempfile.mkdtemp(prefix="posture-bench-"))
    with contextlib.ExitStack() as stack:
        if not args.keep:  # "bench" is this script's own: stopped even when adopted
            stack.callback(shutil.rmtree, data_dir, ignore_errors=True)
            stack.callback(lab.daemon.stop)
            stack.callback(lab.sshd.stop)
        started = time.monotonic()
        lab.daemon.start()
        lab.sshd.start()
        with lab.daemon.api_client() as client:
            import_image(client, DEFAULT_TAG)
            made = ensure_containers(client, args.containers)
        log(f"lab ready in {time.monotonic() - started:.1f}s ({made})")
        setup_django(data_dir)

        # Round 0 is the warm-up; it also gives the rescan hosts their first scan.
        rescan = {t: make_host(lab, t, f"rescan-{t}") for t in TRANSPORTS}
        opened: dict[str, int] = {}
        todo = list(measures(lab, args.repeat + 1, rescan, opened).items())
        samples: dict[str, list[float]] = {name: [] for name, _ in todo}
        phases: dict[str, list[dict[str, float]]] = {n: [] for n, _ in todo if " full " in n}
        for r in range(args.repeat + 1):
            shift = r % len(todo)  # rotated, so no measurement always follows the same one
            for name, run in todo[shift:] + todo[:shift]:
                PHASES.clear()
                cpu = cpu_seconds()
                started = time.perf_counter()
                run(r)
                elapsed = time.perf_counter() - started
                if r:
                    samples[name].append(elapsed)
                    CPU[name].append(cpu_seconds() - cpu)
                if r and name in phases:
                    phases[name].append({**PHASES, "rest": elapsed - sum(PHASES.values())})
            log(f"round {r} done")

        lines = [
            f"## {args.containers} containers, 1 image; {args.repeat} rounds after a warm-up"
            + ("; plain login shell (SetEnv SHLVL=1)" if args.plain_login else ""),
            "",
            *report(samples, phases, lab),
            f"- SSH session start (`exec true` on an open connection):"
            f" {ssh_session_start(lab) * 1000:.0f} ms; the floor pays it once, Posture once"
            f" per pooled channel ({opened['ssh']} in its last collect)",
            "",
            "Statements of one more scan (SQLite):",
            "",
            *(writes_of(f"unchanged rescan, {t}", rescan[t]) for t in TRANSPORTS),
            writes_of("first scan, tls", make_host(lab, "tls", "first-extra")),
            "",
            f"Peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB",
        ]
        print("\n".join(lines), flush=True)
        if args.keep:
            log(f"kept {lab.daemon!r}, {lab.sshd!r} and the database under {data_dir}")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()

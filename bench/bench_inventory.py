"""What reading an image's inventory costs over the bare Engine API GETs it makes, in one run.

    python bench/bench_inventory.py --repeat 20 --deep-repeat 3 --big-mb 600

Uses its own lab dockerd "bench-inv" (mutual TLS on loopback) holding the Debian-like image
and a big one (the same files under --big-mb MiB of random payload in four more layers),
each with a running, network-less container. Measurements, interleaved round by round after a
warm-up:

- OS inventory (scans.images.read_inventory, mode "os") of each image over TLS on one open
  connection pool, as a scan reads it after collecting; floor: the same archive requests
  (recorded from Posture's pool: a HEAD per vulns.readers.OS_PATHS entry, then the GETs)
  one after another by a bare urllib3 client holding the client certificate, each body
  read and discarded; "naive": that client GETting every OS path, as a reader without the
  HEADs would.
- Deep inventory (mode "deep") of the big image, over TLS and over the unix socket, in MB/s
  of image streamed; floor: the bare `GET /images/{id}/get` by urllib3, read in 1 MiB
  pieces and discarded.

Prints markdown; writes no files (the lab daemon's data root aside).
"""

# ruff: noqa: E402  (the repository root must be on sys.path before the project imports)
from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import docker
import docker.errors
import urllib3

from hosts.credentials import Credentials
from hosts.endpoints import parse_endpoint
from lab import distro_images
from lab.daemon import LabDaemon
from lab.pki import make_pki
from lab.process import lab_root
from scans.images import read_inventory
from scans.transports import DockerAPI, Limits, open_api
from vulns.readers import OS_PATHS
from vulns.tarstream import TarLimits

LIMITS = Limits(deadline=600, connect_timeout=10, read_timeout=60)
OS_TARGET_S = 0.25
DEEP_TARGET_MBS = 80.0
MB = 1e6  # throughput in decimal megabytes per second, as the target is written
LABEL = {"posture.lab.bench": "inventory"}
BIG_TAG = "posture-bench/big-debian:1"


class Lab:
    def __init__(self) -> None:
        self.pki = make_pki(lab_root("bench-inv-pki"))
        self.daemon = LabDaemon("bench-inv", tls=self.pki)

    def creds(self) -> Credentials:
        pem = self.pki.pem
        return Credentials(pem("ca_cert"), pem("client_cert"), pem("client_key"))

    def api(self, transport: str) -> DockerAPI:
        url = self.daemon.tcp_url if transport == "tls" else self.daemon.unix_url
        api = open_api(parse_endpoint(url), self.creds(), LIMITS)
        api.negotiate()
        return api

    def bare(self, transport: str) -> urllib3.HTTPConnectionPool:
        if transport == "unix":
            from scans.transports.base import SocketTracker
            from scans.transports.unix import UnixPool

            return UnixPool(str(self.daemon.socket_path), SocketTracker(), 1, urllib3.Timeout(60))
        assert self.daemon.tcp_port is not None
        return urllib3.HTTPSConnectionPool(
            "127.0.0.1",
            self.daemon.tcp_port,
            ca_certs=str(self.pki.ca_cert),
            cert_file=str(self.pki.client_cert),
            key_file=str(self.pki.client_key),
            cert_reqs="CERT_REQUIRED",
            maxsize=1,
        )


def big_image(client: docker.APIClient, size_mb: int) -> str:
    """The Debian-like image under `size_mb` MiB of random payload layers: busybox in its
    base layer, so that its container runs like the small one's (lab.distro_images' own big
    image has no program to run)."""
    with contextlib.suppress(docker.errors.ImageNotFound):
        return str(client.inspect_image(BIG_TAG)["Id"])
    with tempfile.TemporaryDirectory(prefix="posture-big-") as scratch:
        folder = Path(scratch)
        base = folder / "base.tar"
        base.write_bytes(
            distro_images.distro_rootfs(
                distro_images.debian_files(), {"etc/os-release": "../usr/lib/os-release"}
            )
        )
        layers = [base, *distro_images.write_big_layers(folder, size_mb)]
        save = folder / "image.tar"
        distro_images.write_save_tar(save, layers, BIG_TAG)
        for path in layers:
            path.unlink()
        with save.open("rb") as handle:
            for _ in client.load_image(handle):
                pass
    return str(client.inspect_image(BIG_TAG)["Id"])


def container_for(client: docker.APIClient, image_id: str, name: str, *, start: bool) -> str:
    with contextlib.suppress(docker.errors.NotFound):
        client.remove_container(name, force=True, v=True)
    created = client.create_container(
        image_id,
        name=name,
        command=["sleep", "3600"],
        labels=LABEL,
        host_config=client.create_host_config(network_mode="none"),
    )
    if start:
        client.start(created["Id"])
    return str(created["Id"])


def recorded_requests(api: DockerAPI, image_id: str, container_id: str) -> list[tuple[str, str]]:
    """The (method, URL) requests one OS inventory makes, recorded from the pool."""
    made: list[tuple[str, str]] = []
    urlopen = api.pool.urlopen

    def recording(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        made.append((method, url))
        return urlopen(method, url, *args, **kwargs)

    api.pool.urlopen = recording  # type: ignore[method-assign]
    try:
        posture_os(api, image_id, container_id)
    finally:
        del api.pool.urlopen
    return made


def floor_os(pool: urllib3.HTTPConnectionPool, requests: list[tuple[str, str]]) -> None:
    for method, url in requests:
        response = pool.urlopen(method, url, preload_content=False, retries=False)
        for _ in response.stream(1 << 20):
            pass
        response.release_conn()


def floor_naive(pool: urllib3.HTTPConnectionPool, version: str, container_id: str) -> None:
    for path in OS_PATHS:
        response = pool.urlopen(
            "GET",
            f"/v{version}/containers/{container_id}/archive?{urlencode({'path': '/' + path})}",
            preload_content=False,
            retries=False,
        )
        for _ in response.stream(1 << 20):
            pass
        response.release_conn()


def floor_deep(pool: urllib3.HTTPConnectionPool, version: str, image_id: str) -> int:
    response = pool.request(
        "GET", f"/v{version}/images/{image_id}/get", preload_content=False, retries=False
    )
    size = 0
    while chunk := response.read(1 << 20):
        size += len(chunk)
    response.release_conn()
    return size


def posture_os(api: DockerAPI, image_id: str, container_id: str) -> None:
    result = read_inventory(api, image_id, container_id, "os", TarLimits())
    if not result.assessed:
        raise RuntimeError(f"OS inventory not assessed: {result.reason}")


def posture_deep(api: DockerAPI, image_id: str) -> int:
    result = read_inventory(api, image_id, None, "deep", TarLimits())
    if not result.assessed:
        raise RuntimeError(f"deep inventory not assessed: {result.reason}")
    return result.bytes_read


def report(
    os_samples: dict[str, list[float]],
    deep_samples: dict[str, list[float]],
    streamed: dict[str, int],
    sizes: dict[str, int],
    engine: dict[str, Any],
) -> list[str]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if "model name" in ln), "?")
    med = {k: statistics.median(v) for k, v in (os_samples | deep_samples).items()}

    def p90(values: list[float]) -> float:
        return statistics.quantiles(values, n=10, method="inclusive")[8]

    out = [
        f"- {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; load average"
        f" {' / '.join(f'{x:.2f}' for x in os.getloadavg())} at the end",
        f"- CPU {model}, nproc {len(os.sched_getaffinity(0))}; Python {sys.version.split()[0]}",
        f"- Docker Engine {engine['Version']} (API {engine['ApiVersion']}),"
        f" urllib3 {urllib3.__version__}",
        f"- images: Debian-like {sizes['small'] / MB:.1f} MB, big {sizes['big'] / MB:.0f} MB"
        f" ({BIG_TAG})",
        "",
        "OS inventory over TLS (median of "
        f"{len(next(iter(os_samples.values())))}; target ≤ {OS_TARGET_S} s):",
        "",
        "| image | measurement | median s | p90 s | × floor | target |",
        "|---|---|---:|---:|---:|---|",
    ]
    for image in ("small", "big"):
        floor = med[f"os {image} floor"]
        for what in ("floor", "naive", "posture"):
            name = f"os {image} {what}"
            verdict = "met" if med[name] <= OS_TARGET_S else "MISSED"
            out.append(
                f"| {image} | {what} | {med[name]:.3f} | {p90(os_samples[name]):.3f}"
                f" | {med[name] / floor:.2f} | {verdict if what == 'posture' else ''} |"
            )
    out += [
        "",
        f"Deep inventory of the big image (median of {len(next(iter(deep_samples.values())))};"
        f" target ≥ {DEEP_TARGET_MBS:.0f} MB/s):",
        "",
        "| transport | measurement | median s | MB streamed | MB/s | × floor throughput | target |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for transport in ("tls", "unix"):
        floor_rate = streamed[f"deep {transport} floor"] / med[f"deep {transport} floor"] / MB
        for what in ("floor", "posture"):
            name = f"deep {transport} {what}"
            rate = streamed[name] / med[name] / MB
            verdict = ("met" if rate >= DEEP_TARGET_MBS else "MISSED") if what == "posture" else ""
            out.append(
                f"| {transport} | {what} | {med[name]:.2f} | {streamed[name] / MB:.0f}"
                f" | {rate:.0f} | {rate / floor_rate:.2f} | {verdict} |"
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="OS inventory rounds")
    parser.add_argument("--deep-repeat", type=int, default=3, help="deep inventory rounds")
    parser.add_argument("--big-mb", type=int, default=600, help="big image payload, MiB")
    parser.add_argument("--keep", action="store_true", help="leave the lab dockerd running")
    args = parser.parse_args()
    if min(args.repeat, args.deep_repeat) < 2:
        parser.error("--repeat and --deep-repeat need at least 2 rounds for a p90")
    lab = Lab()
    with contextlib.ExitStack() as stack:
        if not args.keep:
            stack.callback(lab.daemon.stop)
        started = time.monotonic()
        lab.daemon.start()
        client = stack.enter_context(lab.daemon.api_client(timeout=600))
        small = distro_images.build_debian_like(client)
        big = big_image(client, args.big_mb)
        containers = {
            "small": container_for(client, small, "bench-inv-small", start=True),
            "big": container_for(client, big, "bench-inv-big", start=True),
        }
        images = {"small": small, "big": big}
        sizes = {k: int(client.inspect_image(v)["Size"]) for k, v in images.items()}
        engine = client.version()
        log(f"lab ready in {time.monotonic() - started:.1f}s")

        apis = {t: stack.enter_context(lab.api(t)) for t in ("tls", "unix")}
        bare = {t: stack.enter_context(lab.bare(t)) for t in ("tls", "unix")}
        version = apis["tls"].api_version
        os_runs: dict[str, Callable[[], object]] = {}
        for image in ("small", "big"):
            iid, cid = images[image], containers[image]
            made = recorded_requests(apis["tls"], iid, cid)
            log(
                f"OS inventory of {image}: " + ", ".join(f"{m} {u.split('?')[-1]}" for m, u in made)
            )
            os_runs[f"os {image} floor"] = partial(floor_os, bare["tls"], made)
            os_runs[f"os {image} naive"] = partial(floor_naive, bare["tls"], version, cid)
            os_runs[f"os {image} posture"] = partial(posture_os, apis["tls"], iid, cid)
        deep_runs: dict[str, Callable[[], int]] = {}
        for transport in ("tls", "unix"):
            deep_runs[f"deep {transport} floor"] = partial(
                floor_deep, bare[transport], version, big
            )
            deep_runs[f"deep {transport} posture"] = partial(posture_deep, apis[transport], big)

        os_samples = measure(os_runs, args.repeat)
        streamed: dict[str, int] = {}
        deep_samples = measure(deep_runs, args.deep_repeat, streamed)
        lines = [
            f"## Image inventories: OS {args.repeat} rounds, deep {args.deep_repeat} rounds,"
            " after a warm-up",
            "",
            *report(os_samples, deep_samples, streamed, sizes, engine),
            "",
            f"Peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB",
        ]
        print("\n".join(lines), flush=True)
        if args.keep:
            log(f"kept {lab.daemon!r}")


def measure(
    runs: dict[str, Callable[[], Any]], rounds: int, results: dict[str, int] | None = None
) -> dict[str, list[float]]:
    """Round 0 is the warm-up; the order rotates so no measurement always follows another."""
    todo = list(runs.items())
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(rounds + 1):
        shift = r % len(todo)
        for name, run in todo[shift:] + todo[:shift]:
            started = time.perf_counter()
            value = run()
            elapsed = time.perf_counter() - started
            if r:
                samples[name].append(elapsed)
                if results is not None:
                    results[name] = int(value)
        log(f"round {r} done")
    return samples


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()

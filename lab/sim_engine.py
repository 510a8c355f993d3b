"""A simulated Docker Engine API for scale: N virtual hosts served by one asyncio process.

For load and fault tests only; correctness is proven on real daemons. Every document served
is expanded from JSON recorded from a real lab dockerd (lab/sim_data, written by
`python -m lab.sim_engine record`), so its shape is the daemon's: each virtual host
gets C containers cycling through the recorded sample containers (one misconfiguration
each), with distinct 64-hex ids and names, and I images from the recorded ones.

Each host listens on its own unix socket ({dir}/h0001.sock, the default) or on its own
port of a loopback address with mutual TLS (--tls), and can misbehave on demand:

  hang       read the request, never answer (until the client hangs up)
  refuse     the address exists but nobody listens (ECONNREFUSED)
  error500   HTTP 500 with the daemon's error body
  truncated  a full Content-Length, half the body, then the connection closes
  notjson    HTTP 200 with an HTML page
  trickle    the right answer, one byte every --trickle-ms

    python -m lab.sim_engine --hosts 1000 --containers 50 --latency-ms 20 \\
        --dir /tmp/pst-sim [--tls] [--hang 0.05 --refuse 0.05]

It runs in the foreground and writes {dir}/endpoints.json once every listener is bound;
SimEngine starts it as a subprocess from Python. Traffic stays on loopback (127.0.0.0/8).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import io
import json
import os
import random
import re
import resource
import signal
import socket
import ssl
import subprocess
import sys
import tarfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lab.process import LabError, loopback_host, terminate, wait_until

DATA_DIR = Path(__file__).resolve().parent / "sim_data"
FAULT_KINDS = ("hang", "refuse", "error500", "truncated", "notjson", "trickle")
_VERSIONED = re.compile(r"^/v\d+\.\d+(/.*)$")
_SLOT = re.compile(r"@@(\w+)@@")
_IMAGE_DOCS = ("list", "inspect", "history")


# --- Specification ------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultSpec:
    """A misbehaviour for a share of the hosts (`fraction`) or for named host indexes."""

    kind: str
    fraction: float = 0.0
    hosts: tuple[int, ...] = ()
    path: str = ""  # unversioned path prefix it applies to; "" = every request
    after: int = 0  # let this many of the host's requests through first

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; one of {', '.join(FAULT_KINDS)}")
        if not 0 <= self.fraction <= 1:
            raise ValueError(f"fault fraction {self.fraction} is not between 0 and 1")

    def applies(self, path: str, count: int) -> bool:
        return count > self.after and path.startswith(self.path)


@dataclass(frozen=True)
class SimSpec:
    hosts: int = 10
    containers: int = 50
    images: int = 5
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    directory: str = "/tmp/pst-sim"
    tls: bool = False
    tls_host: str = "127.0.0.1"
    trickle_ms: float = 500.0
    seed: int = 1
    faults: tuple[FaultSpec, ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> SimSpec:
        raw = json.loads(text)
        faults = tuple(
            FaultSpec(**{**f, "hosts": tuple(f.get("hosts", ()))}) for f in raw.pop("faults", ())
        )
        return cls(**raw, faults=faults)

    def assign_faults(self) -> dict[int, FaultSpec]:
        """Host index -> its fault. Shares are drawn without overlap from a seeded shuffle,
        so the same spec always picks the same hosts; named hosts override."""
        order = list(range(self.hosts))
        random.Random(self.seed).shuffle(order)
        assigned: dict[int, FaultSpec] = {}
        for fault in self.faults:
            count = round(fault.fraction * self.hosts)
            free = [i for i in order if i not in assigned]
            assigned |= dict.fromkeys(free[:count], fault)
        for fault in self.faults:
            assigned |= dict.fromkeys((i for i in fault.hosts if 0 <= i < self.hosts), fault)
        return assigned


# --- Documents ------------------------------------------------------------------------------


class Template:
    """A JSON document with @@SLOT@@ markers, rendered by joining pre-split parts (cheap
    enough for tens of thousands of inspects a second)."""

    def __init__(self, text: str) -> None:
        pieces = _SLOT.split(text)
        self.literals = [p.encode() for p in pieces[0::2]]
        self.slots = pieces[1::2]

    def render(self, values: dict[str, bytes]) -> bytes:
        out = [self.literals[0]]
        for slot, literal in zip(self.slots, self.literals[1:], strict=True):
            out += (values[slot], literal)
        return b"".join(out)


def _templated(doc: Any, replacements: dict[str, str]) -> Template:
    text = json.dumps(doc)
    for old, slot in replacements.items():  # longest first: a short id is an id's prefix
        text = text.replace(old, f"@@{slot}@@")
    return Template(text)


def load_recording(directory: Path = DATA_DIR) -> dict[str, Any]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}


def _hex_id(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


class Fleet:
    """The recording, expanded to each virtual host's documents (deterministic, so an
    unchanged fleet answers byte-identical documents on every cycle)."""

    def __init__(self, spec: SimSpec, recording: dict[str, Any] | None = None) -> None:
        rec = recording or load_recording()
        self.spec = spec
        self.version = rec["version"]
        self.info = rec["info"]
        self.networks = json.dumps(rec["networks"]).encode()
        self.ping = b"OK"
        # What varies per container or image becomes a slot: ids, short ids, names, tags.
        image_slots: dict[str, str] = {}
        self.images: list[tuple[Template, Template, Template]] = []
        for image in rec["images"]:
            slots = {image["inspect"]["Id"].removeprefix("sha256:"): "IID"}
            slots |= dict.fromkeys(image["inspect"].get("RepoTags") or (), "ITAG")
            # Inventories are keyed on layers: each simulated image gets a top layer of its
            # own (the digest of the package layer it serves), so distinct images read apart.
            layers = (image["inspect"].get("RootFS") or {}).get("Layers") or ()
            if layers:
                slots[layers[-1].removeprefix("sha256:")] = "ILAYER"
            listing, inspect, history = (_templated(image[k], slots) for k in _IMAGE_DOCS)
            self.images.append((listing, inspect, history))
            image_slots |= slots
        self.containers: list[tuple[str, Template, Template, bool]] = []
        for item in rec["containers"]:
            cid, name = item["inspect"]["Id"], item["inspect"]["Name"].lstrip("/")
            slots = {cid: "CID", cid[:12]: "CSHORT", name: "NAME", **image_slots}
            running = bool(item["inspect"]["State"].get("Running", False))
            listing, inspect = _templated(item["list"], slots), _templated(item["inspect"], slots)
            self.containers.append((name.removeprefix("lab-"), listing, inspect, running))
        # Shared across hosts, as a fleet runs the same application images.
        self.image_ids = [_hex_id("sim-image", spec.seed, k) for k in range(max(spec.images, 1))]
        self.image_tags = [f"sim/app{k}:1.{k}" for k in range(len(self.image_ids))]
        self.image_files = [SimImageFiles(k) for k in range(len(self.image_ids))]

    def host(self, index: int, fault: FaultSpec | None) -> VirtualHost:
        return VirtualHost(self, index, fault)


@dataclass
class VirtualHost:
    fleet: Fleet
    index: int
    fault: FaultSpec | None
    requests: int = 0
    ids: list[str] = field(default_factory=list)
    by_id: dict[str, int] = field(default_factory=dict)
    _info: bytes = b""

    def __post_init__(self) -> None:
        self.ids = [
            _hex_id("sim-container", self.fleet.spec.seed, self.index, j)
            for j in range(self.fleet.spec.containers)
        ]
        self.by_id = {cid: j for j, cid in enumerate(self.ids)}

    @property
    def name(self) -> str:
        return f"sim-{self.index:04d}"

    def _container(self, j: int) -> tuple[str, Template, Template, bool, dict[str, bytes]]:
        base, listing, inspect, running = self.fleet.containers[j % len(self.fleet.containers)]
        k = j % len(self.fleet.image_ids)
        values = {
            "CID": self.ids[j].encode(),
            "CSHORT": self.ids[j][:12].encode(),
            "NAME": f"{base}-{j:04d}".encode(),
            "IID": self.fleet.image_ids[k].encode(),
            "ITAG": self.fleet.image_tags[k].encode(),
            "ILAYER": self.fleet.image_files[k].layer_digest.encode(),
        }
        return base, listing, inspect, running, values

    def _image(self, k: int) -> tuple[tuple[Template, Template, Template], dict[str, bytes]]:
        templates = self.fleet.images[k % len(self.fleet.images)]
        fleet = self.fleet
        values = {
            "IID": fleet.image_ids[k].encode(),
            "ITAG": fleet.image_tags[k].encode(),
            "ILAYER": fleet.image_files[k].layer_digest.encode(),
        }
        return templates, values

    def info(self) -> bytes:
        if not self._info:
            running = sum(1 for j in range(len(self.ids)) if self._container(j)[3])
            info = self.fleet.info | {
                "ID": _hex_id("sim-host", self.index)[:36],
                "Name": self.name,
                "Containers": len(self.ids),
                "ContainersRunning": running,
                "ContainersStopped": len(self.ids) - running,
                "Images": len(self.fleet.image_ids),
            }
            self._info = json.dumps(info).encode()
        return self._info

    def answer(self, path: str, query: str) -> tuple[int, bytes]:
        """(status, body) for an unversioned GET path, the way dockerd answers it."""
        fleet = self.fleet
        if path == "/_ping":
            return 200, fleet.ping
        if path == "/version":
            return 200, json.dumps(fleet.version).encode()
        if path == "/info":
            return 200, self.info()
        if path == "/networks":
            return 200, fleet.networks
        if path == "/containers/json":
            every = parse_qs(query).get("all", ["0"])[0] not in ("0", "false", "")
            rows = [self._container(j) for j in range(len(self.ids))]
            items = [r[1].render(r[4]) for r in rows if every or r[3]]
            return 200, b"[" + b",".join(items) + b"]"
        if path == "/images/json":
            items = [t[0].render(v) for t, v in map(self._image, range(len(fleet.image_ids)))]
            return 200, b"[" + b",".join(items) + b"]"
        parts = path.split("/")  # "", kind, id, what
        if len(parts) == 4 and parts[1] == "containers" and parts[3] == "json":
            j = self.by_id.get(parts[2])
            if j is None:
                return 404, _message(f"No such container: {parts[2]}")
            _, _, inspect, _, values = self._container(j)
            return 200, inspect.render(values)
        if len(parts) == 4 and parts[1] == "images" and parts[3] in ("json", "history"):
            ident = parts[2].removeprefix("sha256:")
            if ident not in fleet.image_ids:
                return 404, _message(f"No such image: {parts[2]}")
            templates, values = self._image(fleet.image_ids.index(ident))
            return 200, templates[1 if parts[3] == "json" else 2].render(values)
        if len(parts) == 4 and parts[1] == "containers" and parts[3] == "archive":
            j = self.by_id.get(parts[2])
            if j is None:
                return 404, _message(f"No such container: {parts[2]}")
            files = fleet.image_files[j % len(fleet.image_ids)]
            wanted = parse_qs(query).get("path", [""])[0]
            body = files.archive(wanted)
            if body is None:
                return 404, _message(f"Could not find the file {wanted} in container {parts[2]}")
            return 200, body
        if len(parts) == 4 and parts[1] == "images" and parts[3] == "get":
            ident = parts[2].removeprefix("sha256:")
            if ident not in fleet.image_ids:
                return 404, _message(f"No such image: {parts[2]}")
            k = fleet.image_ids.index(ident)
            return 200, fleet.image_files[k].saved(ident, fleet.image_tags[k])
        return 404, _message("page not found")


class SimImageFiles:
    """The package databases of simulated image k, served as dockerd serves files: a tar of
    one path from a container (`GET /containers/{id}/archive`) and the whole image as
    `docker save` writes it (`GET /images/{id}/get`, one layer). Debian 12, a few real
    package names and versions, and one package of the image's own so that no two images
    have the same inventory."""

    OPENSSL = ("3.0.11-1~deb12u2", "3.0.13-1~deb12u1", "3.0.15-1~deb12u1")

    def __init__(self, k: int) -> None:
        openssl = self.OPENSSL[k % len(self.OPENSSL)]
        packages = [
            ("base-files", "12.4+deb12u5", ""),
            ("libc6", "2.36-9+deb12u4", "glibc"),
            ("libssl3", openssl, f"openssl ({openssl})"),
            ("openssl", openssl, ""),
            ("zlib1g", "1:1.2.13.dfsg-1", "zlib"),
            (f"sim-app{k}", f"1.{k}-1", ""),
        ]
        status = "\n".join(
            f"Package: {name}\nStatus: install ok installed\nArchitecture: amd64\n"
            + (f"Source: {source}\n" if source else "")
            + f"Version: {version}\nDescription: simulated\n"
            for name, version, source in packages
        )
        self.files = {
            "etc/os-release": (
                b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
                b'VERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n'
            ),
            "var/lib/dpkg/status": status.encode(),
        }
        self.layer = _tar(self.files, directories=True)
        self.layer_digest = hashlib.sha256(self.layer).hexdigest()
        self._archives: dict[str, bytes | None] = {}
        self._saved: dict[str, bytes] = {}

    def archive(self, path: str) -> bytes | None:
        """A tar of `path` (a file or a folder) named relative to its parent, or None."""
        if path not in self._archives:
            key = path.strip("/")
            parent = key.rpartition("/")[0]
            found = {
                name[len(parent) :].lstrip("/"): data
                for name, data in self.files.items()
                if name == key or name.startswith(key + "/")
            }
            self._archives[path] = _tar(found) if key and found else None
        return self._archives[path]

    def saved(self, image_id: str, tag: str) -> bytes:
        if image_id not in self._saved:
            config = json.dumps(
                {
                    "architecture": "amd64",
                    "os": "linux",
                    "config": {},
                    "rootfs": {"type": "layers", "diff_ids": [f"sha256:{self.layer_digest}"]},
                }
            ).encode()
            layer_dir = self.layer_digest
            manifest = [
                {
                    "Config": f"{image_id}.json",
                    "RepoTags": [tag],
                    "Layers": [f"{layer_dir}/layer.tar"],
                }
            ]
            self._saved[image_id] = _tar(
                {
                    f"{layer_dir}/VERSION": b"1.0",
                    f"{layer_dir}/json": json.dumps({"id": layer_dir}).encode(),
                    f"{layer_dir}/layer.tar": self.layer,
                    f"{image_id}.json": config,
                    "manifest.json": json.dumps(manifest).encode(),
                }
            )
        return self._saved[image_id]


def _tar(files: dict[str, bytes], directories: bool = False) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        seen: set[str] = set()
        for name, data in sorted(files.items()):
            parts = name.split("/")[:-1]
            for depth in range(1, len(parts) + 1) if directories else ():
                folder = "/".join(parts[:depth])
                if folder not in seen:
                    seen.add(folder)
                    entry = tarfile.TarInfo(folder)
                    entry.type, entry.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(entry)
            entry = tarfile.TarInfo(name)
            entry.size, entry.mode = len(data), 0o644
            tar.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()


def _message(text: str) -> bytes:
    return json.dumps({"message": text}).encode()


# --- Server ---------------------------------------------------------------------------------

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}


class SimServer:
    def __init__(self, spec: SimSpec, recording: dict[str, Any] | None = None) -> None:
        self.spec = spec
        self.fleet = Fleet(spec, recording)
        faults = spec.assign_faults()
        self.hosts = [self.fleet.host(i, faults.get(i)) for i in range(spec.hosts)]
        self.directory = Path(spec.directory)
        self.servers: list[asyncio.AbstractServer] = []
        self.reserved: list[socket.socket] = []  # "refuse" hosts: bound, never listening
        self.urls: dict[int, str] = {}
        self.counts: Counter[str] = Counter()
        version = self.fleet.version
        self.headers = (
            f"Api-Version: {version.get('ApiVersion', '1.41')}\r\n"
            "Docker-Experimental: false\r\nOstype: linux\r\n"
            f"Server: Docker/{version.get('Version', '20.10')} (linux)\r\n"
        ).encode()
        self.tls_paths: dict[str, str] = {}

    def _head(self, status: int, length: int, ctype: bytes = b"application/json") -> bytes:
        return (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n".encode()
            + self.headers
            + b"Content-Type: "
            + ctype
            + f"\r\nContent-Length: {length}\r\n\r\n".encode()
        )

    async def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        ssl_context = self._ssl_context() if self.spec.tls else None
        host_ip = loopback_host(self.spec.tls_host)
        for vhost in self.hosts:
            handler = self._handler(vhost)
            refuse = vhost.fault is not None and vhost.fault.kind == "refuse"
            if self.spec.tls:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.bind((host_ip, 0))
                url = f"tcp://{host_ip}:{sock.getsockname()[1]}"
            else:
                path = self.directory / f"h{vhost.index:04d}.sock"
                path.unlink(missing_ok=True)
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.bind(str(path))
                url = f"unix://{path}"
            self.urls[vhost.index] = url
            if refuse:  # bound without listen(): connecting gets ECONNREFUSED
                self.reserved.append(sock)
                continue
            sock.listen(128)
            if self.spec.tls:
                server = await asyncio.start_server(handler, sock=sock, ssl=ssl_context)
            else:
                server = await asyncio.start_unix_server(handler, sock=sock)
            self.servers.append(server)

    def _ssl_context(self) -> ssl.SSLContext:
        from lab.pki import make_pki

        pki = make_pki(self.directory / "pki", name="posture-sim", ips=(self.spec.tls_host,))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki.server_cert, pki.server_key)
        context.load_verify_locations(pki.ca_cert)
        context.verify_mode = ssl.CERT_REQUIRED  # dockerd --tlsverify
        self.tls_paths = {
            "ca_cert": str(pki.ca_cert),
            "client_cert": str(pki.client_cert),
            "client_key": str(pki.client_key),
        }
        return context

    def endpoints(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "spec": json.loads(self.spec.to_json()),
            "tls": self.tls_paths,
            "hosts": [
                {
                    "index": h.index,
                    "name": h.name,
                    "url": self.urls[h.index],
                    "fault": h.fault.kind if h.fault else None,
                }
                for h in self.hosts
            ],
        }

    def stats(self) -> dict[str, Any]:
        return {"requests": sum(h.requests for h in self.hosts), **self.counts}

    def close(self) -> None:
        for server in self.servers:
            server.close()
        for sock in self.reserved:
            sock.close()
        if not self.spec.tls:
            for url in self.urls.values():
                Path(url.removeprefix("unix://")).unlink(missing_ok=True)

    def _handler(self, vhost: VirtualHost) -> Any:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.counts["connections"] += 1
            try:
                while await self._one_request(vhost, reader, writer):
                    pass
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                pass
            except ssl.SSLError:
                self.counts["tls_errors"] += 1
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

        return handle

    async def _one_request(
        self, vhost: VirtualHost, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Serve one request; False when the connection is to be closed."""
        head = await reader.readuntil(b"\r\n\r\n")
        method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        keep_alive = b"connection: close" not in head.lower()
        parts = urlsplit(target)
        match = _VERSIONED.match(parts.path)
        path = match.group(1) if match else parts.path
        vhost.requests += 1
        fault = vhost.fault
        # A hung daemon never starts answering; every other answer pays the latency.
        delay = self.spec.latency_ms + random.uniform(0, self.spec.jitter_ms)
        if delay and (fault is None or fault.kind != "hang"):
            await asyncio.sleep(delay / 1000)
        if fault is not None and fault.applies(path, vhost.requests):
            return await self._misbehave(vhost, fault, path, parts.query, reader, writer)
        if method not in ("GET", "HEAD"):
            status, body = 400, _message("the simulator answers GET and HEAD only")
        else:
            status, body = vhost.answer(path, parts.query)
        ctype = b"text/plain; charset=utf-8" if path == "/_ping" else b"application/json"
        if status == 200 and path.endswith(("/archive", "/get")):
            ctype = b"application/x-tar"
        # HEAD: what GET would answer, without the body (the archive endpoint's stat).
        writer.write(self._head(status, len(body), ctype) + (b"" if method == "HEAD" else body))
        await writer.drain()
        return keep_alive

    async def _misbehave(
        self,
        vhost: VirtualHost,
        fault: FaultSpec,
        path: str,
        query: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Answer badly; True when the connection stays usable (the answer was complete)."""
        self.counts[fault.kind] += 1
        if fault.kind == "hang":  # until the client gives up and hangs up
            while await reader.read(65536):
                pass
            return False
        if fault.kind == "error500":
            body = _message("simulated daemon error")
            writer.write(self._head(500, len(body)) + body)
        elif fault.kind == "notjson":
            body = b"<html><body>I am a web server, not a Docker daemon</body></html>"
            writer.write(self._head(200, len(body), b"text/html") + body)
        elif fault.kind == "truncated":
            _, body = vhost.answer(path, query)
            writer.write(self._head(200, len(body)) + body[: len(body) // 2])
        elif fault.kind == "trickle":
            _, body = vhost.answer(path, query)
            writer.write(self._head(200, len(body)))
            for byte in body:
                if writer.is_closing():
                    return False
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(self.spec.trickle_ms / 1000)
        await writer.drain()
        return fault.kind != "truncated"


async def serve(spec: SimSpec, stop: asyncio.Event | None = None) -> None:
    """Serve until SIGTERM/SIGINT (or `stop` is set); write endpoints.json once bound."""
    _raise_fd_limit()
    server = SimServer(spec)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    directory = Path(spec.directory)
    stats_path = directory / "stats.json"

    def dump_stats() -> None:
        _write_json(stats_path, server.stats())

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, dump_stats)
    await server.start()
    _write_json(directory / "endpoints.json", server.endpoints())
    try:
        await stop.wait()
    finally:
        dump_stats()
        server.close()
        (directory / "endpoints.json").unlink(missing_ok=True)


def _raise_fd_limit() -> None:
    # 1,000 listeners plus four connections each: well past the usual soft limit of 1,024.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


# --- Python API -----------------------------------------------------------------------------


class SimEngine:
    """The simulator in a subprocess: `with SimEngine(spec) as sim: sim.hosts`."""

    def __init__(self, spec: SimSpec, start_timeout: float = 60.0) -> None:
        self.spec = spec
        self.directory = Path(spec.directory)
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.endpoints: dict[str, Any] = {}

    @property
    def hosts(self) -> list[dict[str, Any]]:
        """[{index, name, url, fault}] for every virtual host."""
        return list(self.endpoints.get("hosts", ()))

    @property
    def pid(self) -> int:
        if self.process is None:
            raise LabError("the simulator is not running")
        return self.process.pid

    def start(self) -> SimEngine:
        self.directory.mkdir(parents=True, exist_ok=True)
        ready = self.directory / "endpoints.json"
        ready.unlink(missing_ok=True)
        log = (self.directory / "sim.log").open("ab")
        root = Path(__file__).resolve().parents[1]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lab.sim_engine", "--spec-json", self.spec.to_json()],
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        process = self.process
        if not wait_until(
            ready.exists, timeout=self.start_timeout, failed=lambda: process.poll() is not None
        ):
            self.stop()
            tail = (self.directory / "sim.log").read_text(errors="replace")[-2000:]
            raise LabError(f"the simulator did not come up; log tail:\n{tail}")
        self.endpoints = json.loads(ready.read_text())
        return self

    def stats(self, timeout: float = 5.0) -> dict[str, Any]:
        """Requests served so far (the server writes them on SIGUSR1)."""
        path = self.directory / "stats.json"
        path.unlink(missing_ok=True)
        os.kill(self.pid, signal.SIGUSR1)
        wait_until(path.exists, timeout=timeout)
        return dict(json.loads(path.read_text()))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            terminate(self.process.pid, timeout=10)
        self.process = None

    def __enter__(self) -> SimEngine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- Recording ------------------------------------------------------------------------------


def record(client: Any, normalise: dict[str, str] | None = None) -> dict[str, Any]:
    """Read the documents the simulator expands from a real daemon holding the lab samples.

    `normalise` maps lab paths (the daemon's data root, its socket) to what a production
    daemon shows (/var/lib/docker, /var/run/docker.sock); values change, shapes do not.
    """
    listed = [
        c
        for c in client.containers(all=True)
        if any(n.startswith("/lab-") for n in c.get("Names") or ())
    ]
    out: dict[str, Any] = {
        "version": client.version(api_version=False),
        "info": client.info(),
        "containers": [
            {"list": c, "inspect": client.inspect_container(c["Id"])}
            for c in sorted(listed, key=lambda c: c["Names"][0])
        ],
        "images": [
            {
                "list": image,
                "inspect": client.inspect_image(image["Id"]),
                "history": client.history(image["Id"]),
            }
            for image in client.images()
        ],
        "networks": client.networks(),
    }
    text = json.dumps(out)
    for old, new in (normalise or {}).items():
        text = text.replace(old, new)
    return dict(json.loads(text))


def write_recording(recording: dict[str, Any], directory: Path = DATA_DIR) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, doc in recording.items():
        (directory / f"{name}.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


APP_TAG = "posture-lab/app:1"
APP_DOCKERFILE = """FROM {base}
LABEL org.opencontainers.image.title="sim app" maintainer="ops@example.org"
ENV APP_HOME=/app APP_PORT=8080
RUN mkdir -p /tmp/app && echo ok > /tmp/app/ready
EXPOSE 8080
USER 1000:1000
HEALTHCHECK --interval=30s CMD ["true"]
CMD ["sleep", "3600"]
"""


def record_from_lab(name: str = "sim-rec", keep: bool = False) -> dict[str, Any]:
    """Start (or adopt) a lab dockerd, create the samples, and record them."""
    from lab.daemon import LabDaemon
    from lab.images import DEFAULT_TAG, import_image
    from lab.samples import create_samples

    daemon = LabDaemon(name).start()
    try:
        with daemon.api_client() as client:
            import_image(client, DEFAULT_TAG)
            # A built image too: its history has the ENV/USER/HEALTHCHECK layers a real
            # application image has, where the imported one has a single layer.
            build = client.build(
                fileobj=io.BytesIO(APP_DOCKERFILE.format(base=DEFAULT_TAG).encode()),
                tag=APP_TAG,
                network_mode="none",
                rm=True,
                decode=True,
            )
            if not any("Successfully tagged" in str(line.get("stream")) for line in build):
                raise LabError(f"building {APP_TAG} failed")
            create_samples(client, DEFAULT_TAG, docker_socket=daemon.socket_path)
            normalise = {
                str(daemon.socket_path): "/var/run/docker.sock",
                str(daemon.data_root): "/var/lib/docker",
                str(daemon.exec_root): "/run/docker",
            }
            return record(client, normalise)
    finally:
        if not keep and not daemon.reused:
            daemon.stop()


# --- Command line ---------------------------------------------------------------------------


def parse_args(argv: list[str]) -> SimSpec:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--spec", type=Path, help="a JSON file with SimSpec's fields")
    parser.add_argument("--spec-json", help=argparse.SUPPRESS)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--containers", type=int, default=50)
    parser.add_argument("--images", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--dir", default="/tmp/pst-sim")
    parser.add_argument("--tls", action="store_true", help="mutual TLS on loopback ports")
    parser.add_argument("--tls-host", default="127.0.0.1")
    parser.add_argument("--trickle-ms", type=float, default=500.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fault-path", default="", help="path prefix the faults apply to")
    for kind in FAULT_KINDS:
        parser.add_argument(f"--{kind}", type=float, default=0.0, metavar="FRACTION")
    args = parser.parse_args(argv)
    if args.spec_json:
        return SimSpec.from_json(args.spec_json)
    if args.spec:
        return SimSpec.from_json(args.spec.read_text())
    faults = tuple(
        FaultSpec(kind, fraction=getattr(args, kind), path=args.fault_path)
        for kind in FAULT_KINDS
        if getattr(args, kind)
    )
    return SimSpec(
        hosts=args.hosts,
        containers=args.containers,
        images=args.images,
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        directory=args.dir,
        tls=args.tls,
        tls_host=args.tls_host,
        trickle_ms=args.trickle_ms,
        seed=args.seed,
        faults=faults,
    )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["record"]:
        parser = argparse.ArgumentParser(prog="sim_engine record")
        parser.add_argument("--out", type=Path, default=DATA_DIR)
        parser.add_argument("--keep", action="store_true", help="leave the lab dockerd running")
        args = parser.parse_args(argv[1:])
        write_recording(record_from_lab(keep=args.keep), args.out)
        print(f"recorded into {args.out}")
        return
    spec = parse_args(argv)
    started = time.monotonic()

    async def run() -> None:
        task = asyncio.create_task(serve(spec))
        directory = Path(spec.directory)
        while not (directory / "endpoints.json").exists() and not task.done():
            await asyncio.sleep(0.05)
        if not task.done():
            mode = f"tls on {spec.tls_host}" if spec.tls else f"unix sockets in {directory}"
            print(
                f"serving {spec.hosts} hosts x {spec.containers} containers ({mode}) after"
                f" {time.monotonic() - started:.1f}s; endpoints in {directory}/endpoints.json",
                flush=True,
            )
        await task

    asyncio.run(run())


if __name__ == "__main__":
    main()


__all__ = ["FaultSpec", "Fleet", "SimEngine", "SimSpec", "record", "serve"]

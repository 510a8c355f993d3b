"""`python -m lab up|down --dir DIR`: the demo's private Docker daemon.

`services` starts (or reuses) the PostgreSQL cluster the test suite runs against and prints
`export` lines for its connection settings; `ping URL` exits 0 when a Docker daemon answers
on that unix socket.

`fleet up|down [--name NAME]` starts (or reuses) / stops the fleet of lab.fleet and
prints its hosts' endpoints as JSON (credentials stay in its state directory).

`up` starts (or reuses) a daemon on a unix socket under DIR, imports the busybox image and
makes sure the sample containers exist, adds Debian-, distroless- and Alpine-like images
with package databases (one running container each, so that their inventories can be read)
and writes the demo's vulnerability data (OSV, KEV, EPSS) under DIR/vulndata, then prints
{"docker_host": "unix://...", "vulndata": DIR/vulndata} as JSON for scripts/run. `down`
stops that daemon. No Django settings are read.
"""

from __future__ import annotations

import argparse
import json
import shlex
import socket
import sys
from pathlib import Path

import docker
import docker.errors

from lab import distro_images, vulndata
from lab.daemon import LabDaemon
from lab.fleet import LabFleet
from lab.images import DEFAULT_TAG, import_image
from lab.process import LabError
from lab.samples import create_samples, ensure_samples
from lab.services import LabPostgres


def _daemon(directory: Path) -> LabDaemon:
    return LabDaemon("demo", root=directory.resolve())


def up(directory: Path, fresh: bool) -> dict[str, object]:
    daemon = _daemon(directory).start()
    with daemon.api_client() as client:
        import_image(client, DEFAULT_TAG)
        make = create_samples if fresh else ensure_samples
        samples = make(client, DEFAULT_TAG, docker_socket=daemon.socket_path)
        samples.update(distro_samples(client))
    data = directory.resolve() / "vulndata"
    data.mkdir(parents=True, exist_ok=True)
    vulndata.write_demo(data)
    return {
        "docker_host": daemon.unix_url,
        "vulndata": str(data),
        "log": str(daemon.log_path),
        "reused": daemon.reused,
        "samples": sorted(samples),
    }


# Demo containers over images with package databases: what the vulnerability pages show.
# Not "lab-" names: ensure_samples owns those and would recreate the set.
DISTRO_SAMPLES = {
    "demo-shop-api": distro_images.build_debian_like,
    "demo-shop-worker": distro_images.build_distroless_like,
    "demo-edge-proxy": distro_images.build_alpine_like,
}


def distro_samples(client: docker.APIClient) -> dict[str, str]:
    """One running container per distro-like image, kept across restarts (stable ids)."""
    out = {}
    for name, build in DISTRO_SAMPLES.items():
        image_id = build(client)
        try:
            found = client.inspect_container(name)
            if found["Image"] != image_id:
                client.remove_container(name, force=True)
                raise docker.errors.NotFound(name)
        except docker.errors.NotFound:
            found = client.create_container(
                image_id,
                name=name,
                command=["sleep", "2147483647"],
                labels={"posture.lab.sample": name, distro_images.LABEL: name},
                host_config=client.create_host_config(network_mode="none"),
            )
        if not client.inspect_container(name)["State"]["Running"]:
            client.start(name)
        out[name] = str(found["Id"])
    return out


def down(directory: Path) -> dict[str, object]:
    daemon = _daemon(directory)
    was_running = daemon.pid is not None
    daemon.stop()
    return {"docker_host": daemon.unix_url, "stopped": was_running}


def fleet(action: str, name: str) -> dict[str, object]:
    lab_fleet = LabFleet(name)
    if action == "down":
        lab_fleet.stop()
        return {"fleet": str(lab_fleet.root), "stopped": True}
    lab_fleet.start()
    return {
        "fleet": str(lab_fleet.root),
        "reused": lab_fleet.reused,
        "seconds": round(lab_fleet.start_seconds, 2),
        "hosts": {
            host.name: {"endpoint": host.endpoint, "running": host.running}
            for host in lab_fleet.hosts.values()
        },
    }


def services() -> str:
    info = LabPostgres("test-pg").start().info
    env = {k: v for k, v in info.env().items() if k != "POSTURE_DB_ENGINE"}
    return "\n".join(f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items()))


def ping(url: str) -> bool:
    path = url.removeprefix("unix://")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(3)
            sock.connect(path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return b" 200 " in sock.recv(256)
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="start the demo daemon with sample containers")
    start.add_argument("--dir", type=Path, required=True, help="state directory (keep it short)")
    start.add_argument("--fresh", action="store_true", help="recreate the sample containers")
    stop = commands.add_parser("down", help="stop the demo daemon")
    stop.add_argument("--dir", type=Path, required=True)
    commands.add_parser("services", help="start the test PostgreSQL; print export lines")
    many = commands.add_parser("fleet", help="start or stop the lab fleet of dockerds")
    many.add_argument("action", choices=("up", "down"))
    many.add_argument("--name", default="fleet", help="state under /tmp/pst-NAME")
    probe = commands.add_parser("ping", help="does a Docker daemon answer on this socket?")
    probe.add_argument("url")
    args = parser.parse_args(argv)
    if args.command == "ping":
        return 0 if ping(args.url) else 1
    if args.command == "services":
        print(services())
        return 0
    try:
        if args.command == "fleet":
            result = fleet(args.action, args.name)
        else:
            result = up(args.dir, args.fresh) if args.command == "up" else down(args.dir)
    except LabError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

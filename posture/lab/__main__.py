"""`python -m posture.lab up|down --dir DIR`: the demo's private Docker daemon.

`up` starts (or reuses) a daemon on a unix socket under DIR, imports the busybox image and
makes sure the sample containers exist, then prints {"docker_host": "unix://..."} as JSON
for scripts/run. `down` stops that daemon. No Django settings are read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from posture.lab.daemon import LabDaemon
from posture.lab.images import DEFAULT_TAG, import_image
from posture.lab.process import LabError
from posture.lab.samples import create_samples, ensure_samples


def _daemon(directory: Path) -> LabDaemon:
    return LabDaemon("demo", root=directory.resolve())


def up(directory: Path, fresh: bool) -> dict[str, object]:
    daemon = _daemon(directory).start()
    with daemon.api_client() as client:
        import_image(client, DEFAULT_TAG)
        make = create_samples if fresh else ensure_samples
        samples = make(client, DEFAULT_TAG, docker_socket=daemon.socket_path)
    return {
        "docker_host": daemon.unix_url,
        "log": str(daemon.log_path),
        "reused": daemon.reused,
        "samples": sorted(samples),
    }


def down(directory: Path) -> dict[str, object]:
    daemon = _daemon(directory)
    was_running = daemon.pid is not None
    daemon.stop()
    return {"docker_host": daemon.unix_url, "stopped": was_running}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m posture.lab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="start the demo daemon with sample containers")
    start.add_argument("--dir", type=Path, required=True, help="state directory (keep it short)")
    start.add_argument("--fresh", action="store_true", help="recreate the sample containers")
    stop = commands.add_parser("down", help="stop the demo daemon")
    stop.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        result = up(args.dir, args.fresh) if args.command == "up" else down(args.dir)
    except LabError as exc:
        print(f"posture.lab: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

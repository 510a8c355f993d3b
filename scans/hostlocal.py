"""Host-level facts of a daemon that runs on the worker's own machine, without SSH.

A `unix://` host whose socket is on this machine (the embedded default, `scripts/run`'s
`local` and `demo` hosts) gets the same read-only checks as an SSH host: the very script
of scans.hostaccess, fed to a local `/bin/sh -s` on stdin, so the same grammar, the same
parser and the same paths (rounds 2-3 still follow what the scanned daemon's own command
line and config name). Nothing is written, no argument comes from the daemon's answers,
and each round is bounded by the scan's deadline.

"On this machine" must be true of the files, not just of the socket: a socket can be a
forward to another machine (ssh -L, socat, a socket proxy) or be mounted into the worker's
container while the host's /etc is not. So the files are read locally only when
  * the socket exists here and the process listening on it is dockerd (or systemd, for a
    socket-activated docker.socket, with a dockerd running here),
  * that process is in the worker's PID namespace (SO_PEERCRED gives pid 0 otherwise),
  * it sees the same root filesystem as the worker, where /proc lets us compare,
  * the daemon's DockerRootDir (from /info) exists here, and its engine-id file, where the
    Engine writes one (23.0+) and it is readable, names the daemon the scan read.
Otherwise the host stays "not assessed: not reachable over SSH", with the reason why it was
not read locally.
"""

from __future__ import annotations

import os
import socket
import stat
import struct
import subprocess
from pathlib import Path
from typing import Any

from rules.facts import HostAccess
from scans.hostaccess import READ_TIMEOUT, CollectionError, collect_with
from scans.transports.base import Deadline

SHELL = "/bin/sh"
PROC = Path("/proc")
# The child's whole environment: the script sets PATH and LC_ALL itself, and nothing of
# the worker's (settings, secrets in variables) has any business in it.
ENVIRONMENT = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
_CRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


class LocalShell:
    """The `run`/`close` of scans.hostaccess.HostShell, on this machine: one short-lived
    sh per round (cheap here, where an SSH login shell is not)."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline

    def run(self, script: str, cap: int) -> tuple[bytes, str]:
        left = self.deadline.remaining()
        if left < 1:
            raise CollectionError("no time left in the scan's budget")
        try:
            done = subprocess.run(  # noqa: S603 - a fixed argv; the script comes on stdin
                [SHELL, "-s"],
                input=script.encode(),
                capture_output=True,
                timeout=min(left, READ_TIMEOUT),
                env=ENVIRONMENT,
                cwd="/",
                check=False,
            )
        except subprocess.TimeoutExpired:
            return b"", "the local read timed out"
        except OSError as exc:
            raise CollectionError(f"could not run {SHELL} ({exc.strerror})") from None
        if len(done.stdout) > cap:
            return done.stdout[:cap], f"the local answer exceeded the {cap}-byte cap"
        if done.returncode != 0:
            return done.stdout, f"the local shell exited with status {done.returncode}"
        return done.stdout, ""

    def close(self) -> None:
        pass


def local_daemon(socket_path: str, info: dict[str, Any]) -> str:
    """ "" when the daemon behind `socket_path` is this machine's (see the module
    docstring), else why its files cannot be read here, in words for a person."""
    try:
        if not stat.S_ISSOCK(os.stat(socket_path).st_mode):
            return f"{socket_path} is not a socket on the worker's machine"
    except OSError:
        return f"the socket {socket_path} is not on the worker's machine"
    pid = _listener(socket_path)
    if pid is None:
        return f"the worker could not ask who serves {socket_path}"
    if pid == 0:
        return "the daemon runs outside the worker's process namespace (another container?)"
    name = _comm(pid)
    if name == "systemd" and pid == 1:
        # docker.socket: systemd listens and hands connections to dockerd.
        dockerd = next((p for p in _pids() if _comm(p) == "dockerd"), None)
        if dockerd is None:
            return "systemd serves the socket but no dockerd runs on the worker's machine"
        pid = dockerd
    elif name != "dockerd":
        return f"{socket_path} is served by {name or 'an unknown process'}, not dockerd"
    if not _same_root(pid):
        return "dockerd runs in another filesystem than the worker (another container?)"
    root = info.get("DockerRootDir")
    if not isinstance(root, str) or not root.startswith("/"):
        return "the daemon reported no data-root to check against the worker's machine"
    if not os.path.isdir(root):
        return f"the daemon's data-root {root} is not on the worker's machine"
    engine_id = _read(Path(root) / "engine-id")
    if engine_id is not None and engine_id.strip() != str(info.get("ID") or "").strip():
        return f"{root}/engine-id on the worker's machine names another daemon"
    return ""


def collect_local(socket_path: str, info: dict[str, Any], deadline: Deadline) -> HostAccess | str:
    """The host's facts read here, or why not (see local_daemon)."""
    why_not = local_daemon(socket_path, info)
    if why_not:
        return why_not
    root = info.get("DockerRootDir")
    return collect_with(LocalShell(deadline), root if isinstance(root, str) else None, "local")


def _listener(path: str) -> int | None:
    """The pid of the process listening on a unix socket, as seen from this namespace."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(3)
            sock.connect(path)
            raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CRED.size)
    except OSError:
        return None
    return int(_CRED.unpack(raw)[0])


def _comm(pid: int) -> str:
    found = _read(PROC / str(pid) / "comm")
    return (found or "").strip()


def _pids() -> list[int]:
    try:
        return [int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit()]
    except OSError:
        return []


def _same_root(pid: int) -> bool:
    """False when dockerd's root directory is provably not ours; True when it is, or when
    /proc does not let us look (another user's process without CAP_SYS_PTRACE)."""
    try:
        theirs = os.stat(PROC / str(pid) / "root" / "")
    except OSError:
        return True
    ours = os.stat("/")
    return (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino)


def _read(path: Path) -> str | None:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return handle.read(4096)
    except OSError:
        return None

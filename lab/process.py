"""Process plumbing shared by the lab services: spawn, find again, wait, stop.

A lab service is found again through its pidfile plus its command line, never through the
pid alone: pids are reused, and a stale pidfile must not make us "reuse" an unrelated process.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import ipaddress
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
# The default search path handed to lab processes: dockerd looks up containerd, runc,
# docker-init and docker-proxy on PATH, and sshd/postgres binaries live in sbin directories.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


_MNT_DETACH = 2


class LabError(RuntimeError):
    """A lab service could not be started, reached or stopped."""


def loopback_host(host: str) -> str:
    # The lab must never put traffic on a shared network, so anything else is refused here
    # rather than trusted to every caller.
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise LabError(f"lab services listen on a loopback IP address, not {host!r}") from None
    if address not in LOOPBACK:
        raise LabError(f"{host} is not in {LOOPBACK}: lab services listen on loopback only")
    return host


def free_port(host: str = "127.0.0.1") -> int:
    # Racy by nature (another process may take the port before ours binds it), but on a
    # machine running one test suite at a time it is the simplest correct choice.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((loopback_host(host), 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    """True when `pid` runs and is not a zombie (a dead child we have not reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state letter follows the parenthesised command name, which may contain spaces.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def read_pid(pidfile: Path) -> int | None:
    try:
        text = pidfile.read_text().split()
    except OSError:
        return None
    if not text or not text[0].isdigit():
        return None
    return int(text[0])


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def live_pid(pidfile: Path, *markers: str) -> int | None:
    """The pid recorded in `pidfile` if that process is alive and its argv contains `markers`."""
    pid = read_pid(pidfile)
    if pid is None or not pid_alive(pid):
        return None
    argv = " ".join(cmdline(pid))
    if not all(marker in argv for marker in markers):
        return None
    return pid


def pids_matching(*markers: str) -> list[int]:
    """Live processes whose argv contains every one of `markers`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            argv = " ".join(cmdline(int(entry.name)))
            if argv and all(marker in argv for marker in markers):
                found.append(int(entry.name))
    return [pid for pid in found if pid_alive(pid)]


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def spawn(
    argv: Sequence[str],
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    # A new session keeps the service alive through a Ctrl-C of the test run that started
    # it (the next run reuses it) and out of the terminal's process group.
    child_env = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8", **(env or {})}
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_env,
            cwd=cwd,
            start_new_session=True,
            user=user,
            group=user,
            extra_groups=[] if user else None,
        )


def reap(pid: int) -> None:
    # Only our own children can be reaped; for anything else this is a no-op.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def wait_until(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.05,
    failed: Callable[[], bool] | None = None,
) -> bool:
    """Poll `predicate` until it holds (True), `failed` holds or the timeout passes (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if (failed is not None and failed()) or time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def terminate(pid: int, *, timeout: float = 15.0, sig: signal.Signals = signal.SIGTERM) -> None:
    """Send `sig`, wait up to `timeout` for the process to exit, then SIGKILL it."""
    if not pid_alive(pid):
        reap(pid)
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)

    def gone() -> bool:
        reap(pid)
        return not pid_alive(pid)

    if wait_until(gone, timeout=timeout):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if not wait_until(gone, timeout=5.0):
        raise LabError(f"process {pid} survived SIGKILL")


def unmount_under(directory: Path) -> None:
    """Detach every mount below `directory`, deepest first.

    dockerd leaves its exec-root's netns/default (an nsfs bind mount) behind when it exits;
    without this each lab daemon would leave a mount in the host's table.
    """
    prefix = str(directory.resolve()).rstrip("/") + "/"
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return
    # Field 5 is the mount point, with spaces and the like octal-escaped.
    points = {
        line.split()[4].encode().decode("unicode_escape") for line in lines if len(line.split()) > 4
    }
    libc = ctypes.CDLL(None, use_errno=True)
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        libc.umount2(point.encode(), _MNT_DETACH)


def log_tail(path: Path, lines: int = 30, skip: str | None = None) -> str:
    """The last `lines` lines of a log, leaving out those containing `skip` (noise)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    kept = [line for line in text.splitlines() if not (skip and skip in line)]
    return "\n".join(kept[-lines:])


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Serialise start/stop of one lab service between processes (tests, demo, a second run)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_state(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_state(path: Path, state: Mapping[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    tmp.replace(path)


def lab_root(name: str) -> Path:
    """The state directory of a lab service: short, because unix socket paths are limited."""
    if not name or len(name) > 24 or not all(ch.isalnum() or ch in "-_" for ch in name):
        raise LabError(f"lab names are 1-24 characters of [A-Za-z0-9_-], not {name!r}")
    return Path("/tmp") / f"pst-{name}"


class LabService(Protocol):
    reused: bool

    def start(self) -> Any: ...

    def stop(self) -> None: ...


_S = TypeVar("_S", bound=LabService)


@contextlib.contextmanager
def running(service: _S) -> Iterator[_S]:
    """Start (or adopt) `service` for the duration of the block; stop it only if we started it.

    A service adopted from an earlier run belongs to whoever started it, and POSTURE_LAB_KEEP=1
    leaves ours running too, so the next test run skips the start cost.
    """
    service.start()
    try:
        yield service
    finally:
        if not service.reused and os.environ.get("POSTURE_LAB_KEEP", "") not in ("1", "true"):
            service.stop()


class LabProcess:
    """The one start-or-reuse lifecycle of a lab service that runs as its own process.

    Under the service's lock, start() adopts the instance an earlier run left when its
    state.json records the settings this object would start with, its pidfile names a live
    process of the right command line and it answers; otherwise it stops whatever runs from
    the directory, spawns a new one, waits until it answers and records its settings.
    Subclasses say how (the hooks below); `running()` decides whether to stop it afterwards.
    """

    name: str
    root: Path
    start_timeout: float
    # How stop() ends the process when no timeout is given, and with which signal.
    stop_timeout = 10.0
    stop_signal = signal.SIGTERM

    def __init__(self, name: str, root: Path | None, start_timeout: float) -> None:
        self.name = name
        self.root = root or lab_root(name)
        self.start_timeout = start_timeout
        # True when start() adopted an instance an earlier run left behind: whoever started
        # it owns stopping it.
        self.reused = False
        self.start_seconds = 0.0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def state_path(self) -> Path:
        return self.root / "state.json"

    # Hooks --------------------------------------------------------------------------------

    @property
    def log_path(self) -> Path:
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        """The live process found through the pidfile and its command line, if any."""
        raise NotImplementedError

    def is_ready(self) -> bool:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Under the lock, before adopting or starting: keys, users, directories."""

    def _restore(self, state: Mapping[str, Any]) -> None:
        """Take what identifies the recorded instance (a port) before judging it."""

    def _settings(self) -> dict[str, Any]:
        """What an instance must have been started with to be adopted; saved in state.json."""
        return {}

    def _configure(self) -> None:
        """Choose what a new instance gets (a free port) after the old one is stopped."""

    def _spawn(self) -> subprocess.Popen[bytes]:
        raise NotImplementedError

    def _started(self) -> None:
        """Once a new instance answers: roles, databases."""

    def _stopping(self) -> None:
        """Before the process is signalled (only when one runs)."""

    def _stopped(self) -> None:
        """After the process is gone: whatever it leaves behind (mounts, helpers)."""

    # Life cycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Adopt the instance an earlier run left with the same settings, or start one."""
        with locked(self.root):
            self._prepare()
            state = read_state(self.state_path)
            self._restore(state)
            settings = self._settings()
            if (
                state
                and all(state.get(key) == value for key, value in settings.items())
                and self.pid is not None
                and self.is_ready()
            ):
                self.reused = True
                return self
            # Whatever runs from this directory has other settings (or is wedged): replace it.
            self._stop_locked()
            started = time.monotonic()
            self._configure()
            self._launch()
            self._started()
            self.start_seconds = time.monotonic() - started
            write_state(self.state_path, self._settings())
        return self

    def _launch(self) -> None:
        self.log_path.write_bytes(b"")
        process = self._process = self._spawn()
        self.reused = False
        if not wait_until(
            self.is_ready, timeout=self.start_timeout, failed=lambda: process.poll() is not None
        ):
            code = process.poll()
            self._stop_locked(timeout=5)
            raise LabError(
                f"lab {type(self).__name__} {self.name} did not answer within"
                f" {self.start_timeout:.0f}s (exit code {code}); log tail:\n{self._log_tail()}"
            )

    def _log_tail(self) -> str:
        return log_tail(self.log_path)

    def stop(self, timeout: float | None = None) -> None:
        with locked(self.root):
            self._stop_locked(timeout)

    def _stop_locked(self, timeout: float | None = None) -> None:
        pid = self.pid
        if pid is None and self._process is not None and self._process.poll() is None:
            pid = self._process.pid
        if pid is not None:
            self._stopping()
            terminate(
                pid, timeout=self.stop_timeout if timeout is None else timeout, sig=self.stop_signal
            )
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=1)
        self._process = None
        self._stopped()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LabServer(LabProcess):
    """A LabProcess listening on a loopback TCP port, which it keeps across runs.

    The port asked for, or else the one recorded by the run that started the instance; a
    new instance gets a free one.
    """

    def __init__(
        self, name: str, root: Path | None, host: str, port: int, start_timeout: float
    ) -> None:
        super().__init__(name, root, start_timeout)
        self.host = loopback_host(host)
        self._requested_port = port
        self.port = 0

    def _restore(self, state: Mapping[str, Any]) -> None:
        self.port = self._requested_port or int(state.get("port") or 0)

    def _settings(self) -> dict[str, Any]:
        return {"port": self.port}

    def _configure(self) -> None:
        self.port = self._requested_port or free_port(self.host)

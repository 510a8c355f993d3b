"""SSH through OpenSSH's own client: one multiplexed master per scanned host.

paramiko frames and encrypts every packet in Python: a scan over it cost 2-3× the same scan
over TLS, all of it worker CPU (docs/BENCHMARKS.md, issue 15). Here `ssh` (what the docker
CLI runs for ssh:// contexts) holds the connection as a ControlMaster in the foreground and
forwards a private local unix socket to the daemon's (`-L local:remote`): the pool talks
HTTP to that socket as the unix transport does, and the bytes are framed and encrypted in C.
The host checks and the dial-stdio fallback are sessions multiplexed on the same master
(`ssh -S ctl … command`), so one login serves the whole scan, as before.

What the paramiko transport guaranteed holds here, by construction of the argv:
- trust: the pinned key alone, in a known-hosts file written for this host under an alias
  (HostKeyAlias), StrictHostKeyChecking=yes, HostKeyAlgorithms limited to the pinned type,
  no global known hosts, UpdateHostKeys=no; `-F /dev/null` so no user or system
  configuration applies; the key in a 0600 file of a 0700 directory (RAM-backed where
  /dev/shm exists), removed as soon as the master is up; IdentitiesOnly, no agent
  (IdentityAgent=none, the environment holds PATH and LC_ALL=C only), BatchMode.
- where it connects: to an address the target policy checked (scans.transports.dial),
  never to the name; the key is still looked up under the registered name's alias.
- sessions never open their own connection: ProxyCommand=/bin/false for the mux clients.
- nothing left behind: the master is our child (never forked off with -f), killed with the
  worker (PR_SET_PDEATHSIG, through setpriv) and at the scan's end (SIGTERM, then SIGKILL),
  its directory removed; a worker sweeps the directories of dead workers when it opens
  its first master (sweep_stale).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from hosts import keys
from hosts.credentials import Credentials
from hosts.endpoints import Endpoint
from scans.transports.base import Deadline
from scans.transports.dial import Dialer
from scans.transports.errors import ErrorClass, ScanError
from scans.transports.hostshell import MasterShell, first_round, reap

SSH = "ssh"
SETPRIV = "/usr/bin/setpriv"
PREFIX = "posture-ssh-"
ALIAS = "posture-pinned-host"
_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C", "LANG": "C"}
# The algorithms each pinned key type may be presented under: the server must show that
# key, not another one it also holds.
_ALGORITHMS = {
    "ssh-rsa": "rsa-sha2-512,rsa-sha2-256,ssh-rsa",
    "ssh-ed25519": "ssh-ed25519",
}
_FINGERPRINT = re.compile(r"key sent by the remote host is\s+(SHA256:[A-Za-z0-9+/=]+)")


def available() -> bool:
    return shutil.which(SSH, path=_ENV["PATH"]) is not None


def _private_root() -> str | None:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks (/proc/PID/stat field 22): with the pid, it
    names one process for good, where a pid alone is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def _owner_alive(name: str) -> bool:
    found = re.fullmatch(rf"{PREFIX}(\d+)-(\d+)-.*", name)
    if not found:
        return True  # not ours to judge
    pid, started = int(found[1]), found[2]
    return _start_time(pid) == started


_swept = False
_sweep_lock = threading.Lock()


def sweep_stale(root: str | None = None) -> int:
    """Remove what SIGKILLed workers left: their masters (should PDEATHSIG have missed one)
    and their private directories. Only directories whose owning process is gone are
    touched; other live workers' are theirs. Returns how many were removed."""
    base = Path(root or _private_root() or tempfile.gettempdir())
    removed = 0
    for path in base.glob(f"{PREFIX}*"):
        if _owner_alive(path.name):
            continue
        with contextlib.suppress(OSError, ValueError):
            pid = int(Path(path, "master.pid").read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if str(path).encode() in cmdline:  # still that master, not a reused pid
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
    return removed


def _sweep_once() -> None:
    global _swept
    with _sweep_lock:
        if not _swept:
            _swept = True
            sweep_stale()


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text if text.endswith("\n") else text + "\n")


def classify_stderr(text: str, pinned_fingerprint: str) -> ScanError:
    """ssh's complaint (in the C locale) in the taxonomy's words."""
    last = " ".join(line for line in text.splitlines() if line.strip() and "@@@" not in line)
    detail = f"SSH: {last}"[:300]
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in text or "has changed and you have" in text:
        sent = _FINGERPRINT.search(text)
        return ScanError(
            ErrorClass.HOST_KEY_MISMATCH,
            f"server sent {sent[1] if sent else 'another key'}, pinned {pinned_fingerprint}",
        )
    if "no matching host key type" in text or "Host key verification failed" in text:
        return ScanError(ErrorClass.HOST_KEY_UNKNOWN, "the server offers no key of the pinned type")
    if "Permission denied" in text or "Too many authentication failures" in text:
        return ScanError(ErrorClass.AUTH_FAILED, detail)
    if "timed out" in text.lower():
        return ScanError(ErrorClass.TIMEOUT, "SSH connection timed out")
    return ScanError(ErrorClass.UNREACHABLE, detail)


def _pdeathsig() -> None:  # pragma: no cover - runs in the child, before exec
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Master:
    """The scan's SSH connection: an `ssh -M -N` child and the private directory of its
    control socket, forwarded socket, known-hosts file (and key, until it is up).

    The master must be closed by the thread that opened it, and that thread must outlive
    the scan: PR_SET_PDEATHSIG fires when the *thread* that forked it ends (run_scan's).
    """

    def __init__(self, endpoint: Endpoint, remote_socket: str) -> None:
        self.endpoint = endpoint
        self.remote_socket = remote_socket
        self.process: subprocess.Popen[bytes] | None = None
        self.address = ""
        _sweep_once()
        me = os.getpid()
        self.dir = Path(
            tempfile.mkdtemp(prefix=f"{PREFIX}{me}-{_start_time(me)}-", dir=_private_root())
        )
        self.control = self.dir / "ctl"
        self.forward = self.dir / "docker.sock"
        self.known_hosts = self.dir / "known_hosts"
        self._closed = False
        self._lock = threading.Lock()
        self._spare: subprocess.Popen[bytes] | None = None
        self._ahead = ""  # the script already written to the spare shell
        self.key_type = self.fingerprint = ""

    # -- argv ------------------------------------------------------------------------
    def _common(self, key_type: str) -> list[str]:
        options = {
            "BatchMode": "yes",
            "StrictHostKeyChecking": "yes",
            "UserKnownHostsFile": str(self.known_hosts),
            "GlobalKnownHostsFile": "/dev/null",
            "HostKeyAlias": ALIAS,
            "UpdateHostKeys": "no",
            "CheckHostIP": "no",
            "IdentitiesOnly": "yes",
            "IdentityAgent": "none",
            "PasswordAuthentication": "no",
            "KbdInteractiveAuthentication": "no",
            "ForwardAgent": "no",
            "ForwardX11": "no",
            # Preferred, not required (the rest of OpenSSH's defaults follow, for other
            # servers): curve25519 first saves the worker and the host the ~60 ms of CPU
            # per login of OpenSSH 9's default post-quantum hybrid, 0.6 s of wall time on
            # a loaded 2-core machine (paramiko never offered it). Ciphers stay OpenSSH's:
            # ChaCha20-Poly1305 measured as fast as AES-GCM here (docs/BENCHMARKS.md).
            "KexAlgorithms": "^curve25519-sha256,curve25519-sha256@libssh.org",
            "LogLevel": "INFO",  # ERROR hides why a negotiation failed
            "ControlPath": str(self.control),
        }
        algorithms = _ALGORITHMS.get(key_type, key_type)
        options["HostKeyAlgorithms"] = algorithms
        argv = [SSH, "-F", "/dev/null", "-T", "-p", str(self.endpoint.port)]
        argv += ["-l", self.endpoint.user] if self.endpoint.user else []
        for name, value in options.items():
            argv += ["-o", f"{name}={value}"]
        return argv

    def session_argv(self, command: str) -> list[str]:
        """A session on the master (host checks, dial-stdio); never a connection of its own."""
        argv = [*self._common(self.key_type)]
        argv += ["-o", "ControlMaster=no", "-o", "ProxyCommand=/bin/false"]
        return [*argv, "-S", str(self.control), self.address, command]

    def spawn(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """A session (dial-stdio, the host shell): a mux client that ends when the master
        does, killed or not. No parent-death signal here: a session may be started by a
        pool thread of the collection that ends long before the scan does."""
        return subprocess.Popen(argv, env=_ENV, **kwargs)  # noqa: S603 - fixed argv, no shell

    def _spawn_master(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """The master dies with the thread that opened it (run_scan's, which outlives the
        scan), SIGKILL included: PR_SET_PDEATHSIG, set by setpriv where there is one (no
        Python runs between fork and exec then)."""
        if os.access(SETPRIV, os.X_OK):
            argv = [SETPRIV, "--pdeathsig", "KILL", "--", *argv]
            return subprocess.Popen(argv, env=_ENV, **kwargs)  # noqa: S603
        return subprocess.Popen(argv, env=_ENV, preexec_fn=_pdeathsig, **kwargs)  # noqa: S603

    # -- life cycle ------------------------------------------------------------------
    def open(self, creds: Credentials, timeout: float, dialer: Dialer) -> None:
        try:
            host_key = keys.parse_ssh_host_key(creds.ssh_host_key)
        except ValueError as exc:
            raise ScanError(ErrorClass.CONFIGURATION, f"pinned key: {exc}") from None
        try:
            keys.load_ssh_private_key(creds.ssh_private_key)  # refuses what ssh would ask about
        except ValueError as exc:
            raise ScanError(ErrorClass.CONFIGURATION, str(exc)) from None
        self.key_type = host_key.get_name()
        self.fingerprint = host_key.fingerprint
        _write_private(self.known_hosts, f"{ALIAS} {self.key_type} {host_key.get_base64()}")
        key = self.dir / "id"
        _write_private(key, creds.ssh_private_key)
        try:
            error: ScanError | None = None
            for address in dialer.addresses(self.endpoint.host, self.endpoint.port):
                self.address = address
                error = self._start(key, timeout)
                if error is None or error.error_class is not ErrorClass.UNREACHABLE:
                    break
            if error is not None:
                raise error
        finally:
            key.unlink(missing_ok=True)

    def _start(self, key: Path, timeout: float) -> ScanError | None:
        argv = [*self._common(self.key_type), "-M", "-N", "-S", str(self.control)]
        argv += ["-o", "ControlPersist=no", "-o", "ExitOnForwardFailure=yes"]
        argv += ["-o", f"ConnectTimeout={max(1, math.ceil(timeout))}"]
        argv += ["-o", "ServerAliveInterval=15", "-i", str(key)]
        argv += ["-L", f"{self.forward}:{self.remote_socket}", self.address]
        errlog = open(self.dir / "stderr", "w+b")  # noqa: SIM115 - closed below
        with errlog:
            quiet = subprocess.DEVNULL
            process = self._spawn_master(argv, stdin=quiet, stdout=quiet, stderr=errlog)
            self.process = process
            (self.dir / "master.pid").write_text(str(process.pid))
            expires = time.monotonic() + timeout
            while not (self.forward.exists() and self.control.exists()):
                if process.poll() is not None:
                    errlog.seek(0)
                    text = errlog.read(8192).decode("utf-8", "replace")
                    self.process = None
                    return classify_stderr(text, self.fingerprint)
                if time.monotonic() > expires:
                    self._stop(process)
                    self.process = None
                    return ScanError(ErrorClass.TIMEOUT, "SSH connection timed out")
                time.sleep(0.002)
        return None

    def start_shell(self) -> None:
        """Start the host checks' `/bin/sh -s` now, and give it the collection's first
        round, which is the same on every host: the host's login shell (a user's rc files
        may take most of a second) and that round then run while the Engine API is read,
        not after it. The answer waits in the pipe (it fits: ~25 KiB) for MasterShell."""
        if self.alive and self._spare is None:
            with contextlib.suppress(OSError, ValueError):
                spare = self.shell_process()
                self._spare = spare
                assert spare.stdin is not None
                spare.stdin.write(first_round().encode())
                spare.stdin.flush()
                self._ahead = first_round()

    def shell_process(self) -> subprocess.Popen[bytes]:
        return self.spawn(
            self.session_argv("/bin/sh -s"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    def shell(self, deadline: Deadline) -> MasterShell:
        """The host checks' shell, a session of this master (scans.hostaccess.collect_host)."""
        spare, self._spare = self._spare, None
        ahead, self._ahead = self._ahead, ""
        return MasterShell(self, deadline, spare, ahead)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None and not self._closed

    def close(self) -> None:
        """Idempotent, and safe from the watchdog's thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        spare, self._spare = self._spare, None
        if spare is not None:
            reap(spare)
        if self.process is not None:
            self._stop(self.process)
        shutil.rmtree(self.dir, ignore_errors=True)

    @staticmethod
    def _stop(process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(2)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def probe_forwarding(self, timeout: float) -> bool:
        """Does the server let the forwarded socket through? A refused
        direct-streamlocal channel (AllowStreamLocalForwarding no, `restrict`) reads as the
        local connection closed before any answer; so does a missing remote socket, which
        dial-stdio then reports in words."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            try:
                sock.connect(str(self.forward))
                sock.sendall(b"HEAD /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
                return sock.recv(5) == b"HTTP/"
            except OSError:
                return False

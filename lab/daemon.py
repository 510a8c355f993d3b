"""A private Docker daemon: its own data, state, sockets and (optionally) a mutual-TLS port.

The daemon never touches the machine's networking: `--bridge=none` with iptables off means no
docker0, no NAT rules and no userland proxies, so containers run with network "none" or
"host". dockerd starts its own managed containerd whose sockets live under the exec-root,
which is why that path is kept short (a unix socket path is limited to 107 bytes).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import docker
import docker.errors
import docker.tls

from lab.pki import Pki
from lab.process import (
    LabError,
    children,
    free_port,
    lab_root,
    live_pid,
    locked,
    log_tail,
    loopback_host,
    pids_matching,
    port_open,
    read_state,
    spawn,
    terminate,
    unmount_under,
    wait_until,
    write_state,
)

# containerd's longest socket under the exec-root is containerd/containerd.sock.ttrpc.
_LONGEST_SOCKET_SUFFIX = "/containerd/containerd.sock.ttrpc"
_SUN_PATH_MAX = 107
# Always on: the lab must not create bridges, NAT or firewall rules on the host.
_ISOLATION_ARGS = ("--bridge=none", "--iptables=false", "--ip6tables=false")
# Pinned rather than "auto": negotiation makes a request inside docker-py's constructor,
# before the TLS client below can switch off requests' environment CA override. 1.41 is
# Docker 20.10's API, and newer daemons still serve it.
API_VERSION = "1.41"


class LabDaemon:
    """One dockerd under /tmp/pst-<name>, reused when an earlier run left it running."""

    def __init__(
        self,
        name: str,
        *,
        root: Path | None = None,
        tls: Pki | None = None,
        tcp_host: str = "127.0.0.1",
        tcp_port: int = 0,
        extra_args: Sequence[str] = (),
        start_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.root = root or lab_root(name)
        self.tls = tls
        self.tcp_host = loopback_host(tcp_host)
        self._requested_port = tcp_port
        self.tcp_port: int | None = None
        self.extra_args = tuple(extra_args)
        self.start_timeout = start_timeout
        # True when start() adopted a daemon an earlier run left behind: whoever started it
        # owns stopping it.
        self.reused = False
        self.start_seconds = 0.0
        self._process: subprocess.Popen[bytes] | None = None
        exec_root = str(self.exec_root)
        if len(exec_root) + len(_LONGEST_SOCKET_SUFFIX) > _SUN_PATH_MAX:
            raise LabError(f"exec-root {exec_root} is too long for containerd's unix sockets")
        if len(str(self.socket_path)) > _SUN_PATH_MAX:
            raise LabError(f"socket path {self.socket_path} is too long for a unix socket")

    # Layout -------------------------------------------------------------------------------

    @property
    def socket_path(self) -> Path:
        return self.root / "docker.sock"

    @property
    def exec_root(self) -> Path:
        return self.root / "x"

    @property
    def data_root(self) -> Path:
        return self.root / "data"

    @property
    def pidfile(self) -> Path:
        return self.root / "dockerd.pid"

    @property
    def log_path(self) -> Path:
        return self.root / "dockerd.log"

    @property
    def _state_path(self) -> Path:
        return self.root / "state.json"

    @property
    def unix_url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def tcp_url(self) -> str:
        if self.tls is None:
            raise LabError(f"lab daemon {self.name} has no TLS port (started without a Pki)")
        if self.tcp_port is None:
            raise LabError(f"lab daemon {self.name} is not started")
        return f"tcp://{self.tcp_host}:{self.tcp_port}"

    @property
    def pid(self) -> int | None:
        return live_pid(self.pidfile, "dockerd", f"--data-root={self.data_root}")

    # Life cycle ---------------------------------------------------------------------------

    def start(self) -> LabDaemon:
        """Start dockerd, or adopt the one an earlier run left with the same arguments."""
        with locked(self.root):
            state = read_state(self._state_path)
            port: int | None = None
            if self.tls is not None:
                port = self._requested_port or state.get("tcp_port") or None
            if (
                state.get("argv") == self._argv(port)
                # Same paths but regenerated certificates: dockerd still serves the old ones.
                and state.get("tls") == self._tls_digest()
                and self.pid is not None
                and self.ping()
                and (port is None or port_open(self.tcp_host, port))
            ):
                self.tcp_port = port
                self.reused = True
                return self
            # Whatever runs from this directory has other arguments (or is wedged): replace it.
            self._stop_locked()
            if self.tls is not None and not self._requested_port:
                port = free_port(self.tcp_host)
            self._launch(port)
        return self

    def _launch(self, port: int | None) -> None:
        for directory in (self.root, self.exec_root, self.data_root):
            directory.mkdir(parents=True, exist_ok=True)
        # An explicit empty config file keeps /etc/docker/daemon.json (whose "hosts" would
        # clash with our -H flags) out of the lab daemon.
        (self.root / "daemon.json").write_text("{}\n")
        # Left by a dockerd that was SIGKILLed; dockerd refuses to start while it exists if
        # the old pid still shows in /proc (as it does while its zombie awaits a reaper).
        self.pidfile.unlink(missing_ok=True)
        self.log_path.write_bytes(b"")
        argv = self._argv(port)
        started = time.monotonic()
        self._process = spawn(argv, self.log_path)
        self.tcp_port = port
        self.reused = False
        process = self._process
        if not wait_until(
            self.ping, timeout=self.start_timeout, failed=lambda: process.poll() is not None
        ):
            code = process.poll()
            # Also takes down a containerd or shims the half-started daemon left behind.
            self._stop_locked(timeout=5)
            raise LabError(
                f"lab dockerd {self.name} did not answer /_ping within {self.start_timeout:.0f}s"
                f" (exit code {code}); log tail:\n" + log_tail(self.log_path, skip="module=grpc")
                # containerd's gRPC reconnect chatter would push the actual error out.
            )
        if port is not None and not wait_until(lambda: port_open(self.tcp_host, port), timeout=5.0):
            raise LabError(f"lab dockerd {self.name} answers on unix but not on {self.tcp_url}")
        self.start_seconds = time.monotonic() - started
        write_state(self._state_path, {"argv": argv, "tcp_port": port, "tls": self._tls_digest()})

    def _tls_digest(self) -> str:
        if self.tls is None:
            return ""
        digest = hashlib.sha256()
        for path in (self.tls.ca_cert, self.tls.server_cert):
            digest.update(path.read_bytes())
        return digest.hexdigest()

    def _argv(self, port: int | None) -> list[str]:
        argv = [
            "dockerd",
            f"--config-file={self.root / 'daemon.json'}",
            f"--data-root={self.data_root}",
            f"--exec-root={self.exec_root}",
            f"--pidfile={self.pidfile}",
            f"--host=unix://{self.socket_path}",
            *_ISOLATION_ARGS,
            # Bounds the daemon's own shutdown; containers are killed before it (see stop).
            "--shutdown-timeout=2",
        ]
        if port is not None and self.tls is not None:
            argv += [
                f"--host=tcp://{self.tcp_host}:{port}",
                "--tlsverify",
                f"--tlscacert={self.tls.ca_cert}",
                f"--tlscert={self.tls.server_cert}",
                f"--tlskey={self.tls.server_key}",
            ]
        return argv + list(self.extra_args)

    def stop(self, timeout: float = 15.0) -> None:
        with locked(self.root):
            self._stop_locked(timeout)

    def _stop_locked(self, timeout: float = 15.0) -> None:
        pid = self.pid
        if pid is None and self._process is not None and self._process.poll() is None:
            pid = self._process.pid
        if pid is not None:
            self._kill_containers()
            terminate(pid, timeout=timeout)
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=1)
        self._process = None
        # No dockerd of ours runs now, so whatever still runs or is mounted for it is stale.
        self._kill_orphaned_containers()
        self._clear_stale_containerd()
        unmount_under(self.root)

    def _clear_stale_containerd(self) -> None:
        # dockerd adopts the containerd named in this pidfile while that pid shows in /proc,
        # and a SIGKILLed dockerd's containerd lingers there as a zombie until PID 1 reaps
        # it: the next dockerd would then wait for a socket nobody serves and time out.
        pidfile = self.exec_root / "containerd" / "containerd.pid"
        pid = live_pid(pidfile, "containerd", str(self.exec_root))
        if pid is not None:
            terminate(pid, timeout=5)
        pidfile.unlink(missing_ok=True)

    def _kill_orphaned_containers(self) -> None:
        # A SIGKILLed dockerd takes its containerd along but leaves the shims and their
        # containers running, and a new dockerd (without --live-restore) does not adopt
        # them. Killing a container's init ends its whole PID namespace; the shim then has
        # no one left to report to, so it goes too.
        address = f"-address {self.exec_root}/containerd/containerd.sock"
        for shim in pids_matching("containerd-shim", address):
            for init in children(shim):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(init, signal.SIGKILL)
            terminate(shim, timeout=0, sig=signal.SIGKILL)

    def _kill_containers(self) -> None:
        # Sample containers run `sleep` as PID 1, which ignores SIGTERM, so dockerd's own
        # shutdown would wait 10 s per container. Killing them first makes stop take ~1 s.
        # A kill also marks them stopped, so dockerd does not restart "always" containers.
        with (
            contextlib.suppress(docker.errors.DockerException, OSError),
            self.api_client(timeout=10) as client,
        ):
            for container in client.containers(quiet=True):
                with contextlib.suppress(docker.errors.APIError):
                    client.kill(container["Id"])

    def __enter__(self) -> LabDaemon:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Clients ------------------------------------------------------------------------------

    def ping(self) -> bool:
        """True when the unix socket answers GET /_ping with OK (no docker-py, no retries)."""
        try:
            conn = _UnixHTTPConnection(str(self.socket_path), timeout=2.0)
            try:
                conn.request("GET", "/_ping", headers={"Host": "docker"})
                response = conn.getresponse()
                return response.status == 200 and response.read() == b"OK"
            finally:
                conn.close()
        except (OSError, http.client.HTTPException):
            return False

    def api_client(self, timeout: int = 60) -> docker.APIClient:
        """A docker-py low-level client on the unix socket, for lab setup."""
        return docker.APIClient(base_url=self.unix_url, version=API_VERSION, timeout=timeout)

    def tls_api_client(self, pki: Pki | None = None, timeout: int = 60) -> docker.APIClient:
        """A docker-py client over TCP with mutual TLS (the lab's own Pki unless one is given)."""
        pki = pki or self.tls
        if pki is None:
            raise LabError(f"lab daemon {self.name} has no TLS port (started without a Pki)")
        tls = docker.tls.TLSConfig(
            client_cert=(str(pki.client_cert), str(pki.client_key)),
            ca_cert=str(pki.ca_cert),
            verify=True,
        )
        client = docker.APIClient(
            base_url=self.tcp_url, tls=tls, version=API_VERSION, timeout=timeout
        )
        # docker-py pins the CA as the session's `verify`, but requests lets REQUESTS_CA_BUNDLE
        # (set on CI machines) override a session's verify on every request; without the
        # environment the pinned lab CA is what gets checked.
        client.trust_env = False
        return client

    def info(self) -> dict[str, object]:
        with self.api_client() as client:
            return dict(client.info())

    def __repr__(self) -> str:
        return f"LabDaemon({self.name!r}, root={str(self.root)!r}, pid={self.pid})"


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("docker", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock

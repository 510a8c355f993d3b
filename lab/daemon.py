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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.tls

from lab.pki import Pki
from lab.process import (
    LabError,
    LabProcess,
    children,
    free_port,
    live_pid,
    log_tail,
    loopback_host,
    pids_matching,
    port_open,
    spawn,
    terminate,
    unmount_under,
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


class LabDaemon(LabProcess):
    """One dockerd under /tmp/pst-<name>, reused when an earlier run left it running."""

    stop_timeout = 15.0

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
        super().__init__(name, root, start_timeout)
        self.tls = tls
        self.tcp_host = loopback_host(tcp_host)
        self._requested_port = tcp_port
        self.tcp_port: int | None = None
        self.extra_args = tuple(extra_args)
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

    # Life cycle (LabProcess hooks) --------------------------------------------------------

    def is_ready(self) -> bool:
        port = self.tcp_port
        return self.ping() and (port is None or port_open(self.tcp_host, port))

    def _restore(self, state: Mapping[str, Any]) -> None:
        self.tcp_port = None
        if self.tls is not None:
            self.tcp_port = self._requested_port or state.get("tcp_port") or None

    def _settings(self) -> dict[str, Any]:
        # The certificates' digest too: with the same paths but regenerated certificates,
        # dockerd still serves the old ones.
        return {
            "argv": self._argv(self.tcp_port),
            "tcp_port": self.tcp_port,
            "tls": self._tls_digest(),
        }

    def _configure(self) -> None:
        if self.tls is not None and not self._requested_port:
            self.tcp_port = free_port(self.tcp_host)

    def _spawn(self) -> subprocess.Popen[bytes]:
        for directory in (self.root, self.exec_root, self.data_root):
            directory.mkdir(parents=True, exist_ok=True)
        # An explicit empty config file keeps /etc/docker/daemon.json (whose "hosts" would
        # clash with our -H flags) out of the lab daemon.
        (self.root / "daemon.json").write_text("{}\n")
        # Left by a dockerd that was SIGKILLed; dockerd refuses to start while it exists if
        # the old pid still shows in /proc (as it does while its zombie awaits a reaper).
        self.pidfile.unlink(missing_ok=True)
        return spawn(self._argv(self.tcp_port), self.log_path)

    def _log_tail(self) -> str:
        # containerd's gRPC reconnect chatter would push the actual error out.
        return log_tail(self.log_path, skip="module=grpc")

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

    def _stopping(self) -> None:
        self._kill_containers()

    def _stopped(self) -> None:
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

"""A read-only Engine API proxy on loopback: Debian's HAProxy in front of a daemon's socket.

Operators who hand a scanner no more than reads put a proxy like Tecnativa's
docker-socket-proxy (HAProxy too) in front of the socket. This one lets GET and HEAD
through and answers 403 to every other method, so a test proves that image inventories
need nothing else. With a Pki it terminates mutual TLS, as a proxy that a tcp:// host
record points at must; without one it speaks plain HTTP (for clients that say so).

Installed with apt-get on first use when missing (scripts/test installs it too).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from lab.pki import Pki
from lab.process import LabError, LabServer, live_pid, port_open, spawn

HAPROXY = "/usr/sbin/haproxy"


def ensure_haproxy() -> str:
    if Path(HAPROXY).is_file():
        return HAPROXY
    if shutil.which("apt-get") is None:
        raise LabError("haproxy is not installed and there is no apt-get to install it")
    result = subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "haproxy"],
        capture_output=True,
        text=True,
        env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        check=False,
    )
    if result.returncode != 0 or not Path(HAPROXY).is_file():
        raise LabError(f"could not install haproxy: {result.stderr[-500:]}")
    return HAPROXY


class LabHaproxy(LabServer):
    """HAProxy on 127.0.0.1:<port> forwarding GET and HEAD to `socket_path`, nothing else."""

    def __init__(
        self,
        name: str,
        socket_path: Path | str,
        *,
        tls: Pki | None = None,
        shipped: Path | None = None,
        root: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        start_timeout: float = 10.0,
    ) -> None:
        super().__init__(name, root, host, port, start_timeout)
        self.socket_path = str(socket_path)
        self.tls = tls
        # A shipped configuration (contrib/haproxy/posture-readonly.cfg) to run as it is
        # but for its bind, server and privilege lines, instead of the GET/HEAD-only one.
        self.shipped = shipped

    @property
    def config_path(self) -> Path:
        return self.root / "haproxy.cfg"

    @property
    def pidfile(self) -> Path:
        return self.root / "haproxy.pid"

    @property
    def log_path(self) -> Path:
        return self.root / "haproxy.log"

    @property
    def pem_path(self) -> Path:
        return self.root / "server.pem"

    @property
    def url(self) -> str:
        """The endpoint a host record names: tcp:// with TLS, http:// without."""
        return f"{'tcp' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return live_pid(self.pidfile, "haproxy", str(self.config_path))

    def is_ready(self) -> bool:
        return port_open(self.host, self.port)

    def _prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def _settings(self) -> dict[str, Any]:
        return {**super()._settings(), "config": self._config()}

    def _bind(self) -> str:
        bind = f"bind {self.host}:{self.port}"
        if self.tls:
            # HAProxy wants the certificate and its key in one file; clients must present a
            # certificate of the lab CA, as dockerd --tlsverify demands.
            bind += f" ssl crt {self.pem_path} ca-file {self.tls.ca_cert} verify required"
        return bind

    def _shipped_config(self, text: str) -> str:
        """The shipped file on loopback: the lab's port, certificate and daemon socket; no
        syslog, and no haproxy/docker user and group, which a lab machine may lack."""
        lines = []
        for line in text.splitlines():
            word = line.split()[0] if line.split() else ""
            if word == "bind":
                line = f"    {self._bind()}"
            elif word == "server":
                line = f"    server daemon unix@{self.socket_path}"
            elif word in ("user", "group", "log") or line.strip() == "option httplog":
                continue
            lines.append(line)
        return "\n".join([*lines, ""])

    def _config(self) -> str:
        if self.shipped is not None:
            return self._shipped_config(self.shipped.read_text())
        bind = self._bind()
        return "\n".join(
            [
                "global",
                "    maxconn 512",
                "defaults",
                "    mode http",
                "    timeout connect 5s",
                # Image archives stream for as long as the client reads: the client's own
                # deadline bounds them, not the proxy.
                "    timeout client 10m",
                "    timeout server 10m",
                "frontend engine",
                f"    {bind}",
                "    http-request deny deny_status 403 unless METH_GET or METH_HEAD",
                "    default_backend daemon",
                "backend daemon",
                f"    server daemon unix@{self.socket_path}",
                "",
            ]
        )

    def _spawn(self) -> subprocess.Popen[bytes]:
        binary = ensure_haproxy()
        if self.tls:
            self.pem_path.write_text(self.tls.pem("server_cert") + self.tls.pem("server_key"))
            self.pem_path.chmod(0o600)
        self.config_path.write_text(self._config())
        check = subprocess.run(
            [binary, "-c", "-q", "-f", str(self.config_path)], capture_output=True, text=True
        )
        if check.returncode != 0:
            raise LabError(f"haproxy refused its config: {check.stdout}{check.stderr}"[:800])
        # -db: foreground, logs to stderr; we own the process and record its pid ourselves
        # (haproxy writes a pidfile only when it daemonises).
        process = spawn([binary, "-db", "-f", str(self.config_path)], self.log_path)
        self.pidfile.write_text(f"{process.pid}\n")
        return process

    def __repr__(self) -> str:
        return f"LabHaproxy({self.name!r}, {self.host}:{self.port} -> {self.socket_path})"

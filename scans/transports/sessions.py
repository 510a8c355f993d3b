"""What rides an OpenSSH master (scans.transports.openssh): the scan's HTTP pool and the
host checks' shell.

Each pooled HTTP connection is a unix socket: the master's forwarded one (a
direct-streamlocal channel per connection, opened by ssh), or, where the server refuses
forwarding, one end of a socketpair whose other end is the stdin and stdout of an
`ssh -S ctl host docker system dial-stdio` session (what the docker CLI's commandconn does).
Either way urllib3 sees a real socket: timeouts, the watchdog's shutdown and the caps work
as for the unix transport.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from typing import Any

import urllib3
import urllib3.connection

from scans.transports.base import SocketTracker, timeout_for
from scans.transports.errors import ErrorClass, ScanError, dial_stdio_error
from scans.transports.hostshell import reap
from scans.transports.openssh import Master


class SessionConnection(urllib3.connection.HTTPConnection):
    def __init__(self, pool: OpenSSHPool, **kwargs: Any) -> None:
        super().__init__("docker", **kwargs)
        self.ssh_pool = pool
        self.session: subprocess.Popen[bytes] | None = None

    def connect(self) -> None:
        pool = self.ssh_pool
        if not pool.master.alive:
            raise ConnectionError("the SSH connection is closed")
        if pool.streamlocal:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout_for(self.timeout))
            pool.tracker.add_socket(sock)
            sock.connect(str(pool.master.forward))
        else:
            sock, self.session = pool.dial_stdio()
            sock.settimeout(timeout_for(self.timeout))
        self.sock = sock

    def close(self) -> None:
        super().close()
        if self.session is not None:
            session, self.session = self.session, None
            self.ssh_pool.end(session)


class OpenSSHPool(urllib3.HTTPConnectionPool):
    def __init__(
        self,
        master: Master,
        command: str,
        tracker: SocketTracker,
        maxsize: int,
        timeout: Any,
        streamlocal: bool = True,
    ) -> None:
        super().__init__("docker", maxsize=maxsize, block=True, timeout=timeout)
        self.master = master
        self.command = command
        self.tracker = tracker
        self.streamlocal = streamlocal
        self._sessions: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self.last_stderr: Any = None

    def _new_conn(self) -> urllib3.connection.HTTPConnection:
        self.num_connections += 1
        return SessionConnection(self, timeout=self.timeout.connect_timeout)

    def dial_stdio(self) -> tuple[socket.socket, subprocess.Popen[bytes]]:
        ours, theirs = socket.socketpair()
        try:
            session = self.master.spawn(
                self.master.session_argv(self.command),
                stdin=theirs,
                stdout=theirs,
                stderr=subprocess.PIPE,
            )
        finally:
            theirs.close()
        os.set_blocking(session.stderr.fileno(), False)  # type: ignore[union-attr]
        with self._lock:
            self._sessions.add(session)
            self.last_stderr = session.stderr
        self.tracker.add_socket(ours)
        return ours, session

    def end(self, session: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._sessions.discard(session)
        reap(session)

    def close(self) -> None:
        super().close()
        with self._lock:
            sessions, self._sessions = list(self._sessions), set()
        for session in sessions:
            reap(session)

    def diagnose(self) -> ScanError | None:
        """Explain a failed request: the master gone (its connection lost or killed), or
        what the remote dial-stdio wrote to stderr."""
        if not self.master.alive:
            return ScanError(ErrorClass.UNREACHABLE, "the SSH connection to the host ended")
        stream = self.last_stderr
        if stream is None:
            return None
        try:
            stderr = stream.read(4096) or b""
        except (OSError, ValueError):
            return None
        return dial_stdio_error(stderr)

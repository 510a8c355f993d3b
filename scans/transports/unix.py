from __future__ import annotations

import socket
from typing import Any

import urllib3
import urllib3.connection

from scans.transports.base import SocketTracker, timeout_for


class UnixConnection(urllib3.connection.HTTPConnection):
    def __init__(self, path: str, tracker: SocketTracker, **kwargs: Any) -> None:
        super().__init__("localhost", **kwargs)
        self.socket_path = path
        self.tracker = tracker

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout_for(self.timeout))
        self.tracker.add_socket(sock)
        sock.connect(self.socket_path)
        self.sock = sock


class UnixPool(urllib3.HTTPConnectionPool):
    def __init__(self, path: str, tracker: SocketTracker, maxsize: int, timeout: Any) -> None:
        super().__init__("localhost", maxsize=maxsize, block=True, timeout=timeout)
        self.socket_path = path
        self.tracker = tracker

    def _new_conn(self) -> urllib3.connection.HTTPConnection:
        self.num_connections += 1
        return UnixConnection(self.socket_path, self.tracker, timeout=self.timeout.connect_timeout)

"""A TCP forwarder that can hold connections: the fault tests' way to catch a scan in flight.

A scan of the lab daemon lasts well under a second, too short to land a kill or an outage
inside it on purpose. Through a held gate the worker's connection is accepted and then
waits (nothing read, nothing answered) until the test releases it: the scan is "running",
its worker in the middle of a network read, for as long as the test needs. Released, the
held connections are forwarded as they stand (whatever the client already sent is still
in the kernel's buffer) and new ones are forwarded at once, so a scan caught in flight can
still finish.
"""

from __future__ import annotations

import socket
import threading

from lab.relay import pump


class Gate:
    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self.listen, self.target = listen, target
        self.held: list[socket.socket] = []
        self.holding = False
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    def start(self) -> Gate:
        server = socket.create_server(self.listen, reuse_port=False)
        server.settimeout(0.2)
        self._server = server
        self._spawn(self._accept)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        with self._lock:
            for conn in self.held:
                conn.close()
            self.held.clear()

    def hold(self) -> None:
        with self._lock:
            self.holding = True

    def release(self) -> None:
        with self._lock:
            self.holding = False
            held, self.held = self.held, []
        for conn in held:
            self._spawn(self._forward, conn)

    def waiting(self) -> int:
        with self._lock:
            return len(self.held)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        while (server := self._server) is not None:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                if self.holding:
                    self.held.append(conn)
                    continue
            self._spawn(self._forward, conn)

    def _forward(self, conn: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError:
            conn.close()
            return
        upstream.settimeout(None)
        conn.settimeout(None)
        self._spawn(pump, upstream, conn)
        pump(conn, upstream)
        conn.close()
        upstream.close()

"""A stand-in Docker Engine API on a unix socket, serving JSON recorded from a real daemon.

For fault tests only (correctness is proven on real daemons): it can answer garbage, cut a
body in half, hang, send oversized or deeply nested JSON, or die after N requests, which a
real dockerd cannot be made to do on demand.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker

_VERSIONED = re.compile(r"^/v\d+\.\d+(/.*)$")


def record(client: docker.APIClient) -> dict[str, Any]:
    """Capture every endpoint Posture reads from a real daemon, keyed by unversioned path."""
    out: dict[str, Any] = {"/_ping": "OK", "/version": client.version(api_version=False)}
    out["/info"] = client.info()
    out["/containers/json"] = client.containers(all=True)
    for item in out["/containers/json"]:
        out[f"/containers/{item['Id']}/json"] = client.inspect_container(item["Id"])
    out["/images/json"] = client.images()
    for item in out["/images/json"]:
        out[f"/images/{item['Id']}/json"] = client.inspect_image(item["Id"])
        out[f"/images/{item['Id']}/history"] = client.history(item["Id"])
    out["/networks"] = client.networks()
    return out


@dataclass
class Fault:
    """What to do instead of answering normally. kind: notjson, cut, hang, huge, deep,
    status500, close, bigint, slow, silent (read the request, never answer), chunkcut (a
    chunked body that stops mid-chunk), restart (drop every connection, stop listening for
    `size` milliseconds, then serve again; fires once)."""

    kind: str
    path: str = ""  # only for this (unversioned) path; "" = any path
    after: int = 0  # let this many requests through first
    size: int = 0


@dataclass
class FakeEngine:
    socket_path: Path
    responses: dict[str, Any]
    faults: list[Fault] = field(default_factory=list)
    requests: int = 0
    # Go's net/http streams a large body chunked, without Content-Length: the cap must hold
    # on the stream.
    chunked: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _connections: set[socket.socket] = field(default_factory=set, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, repr=False)

    def start(self) -> FakeEngine:
        engine = self
        self._stopping.clear()
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        if self.socket_path.exists():
            self.socket_path.unlink()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                with engine._lock:
                    engine.requests += 1
                    count = engine.requests
                path = urlsplit(self.path).path
                match = _VERSIONED.match(path)
                if match:
                    path = match.group(1)
                for fault in list(engine.faults):
                    if (not fault.path or fault.path == path) and count > fault.after:
                        return engine.misbehave(self, fault)
                if path not in engine.responses:
                    return self._send(404, json.dumps({"message": f"no such thing: {path}"}))
                body = engine.responses[path]
                if not isinstance(body, bytes | str):
                    body = json.dumps(body)
                self._send(200, body)

            def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
                # The archive endpoint's stat: headers only. A fault that hangs, drops the
                # connection or answers 500 applies; one that garbles a body waits for the GET.
                with engine._lock:
                    engine.requests += 1
                    count = engine.requests
                path = urlsplit(self.path).path
                match = _VERSIONED.match(path)
                if match:
                    path = match.group(1)
                for fault in list(engine.faults):
                    if (
                        fault.kind in ("hang", "silent", "close", "status500")
                        and (not fault.path or fault.path == path)
                        and count > fault.after
                    ):
                        return engine.misbehave(self, fault)
                found = path in engine.responses
                self.send_response(200 if found else 404)
                self.send_header("Content-Length", "0")
                self.send_header("Api-Version", "1.41")
                self.end_headers()

            def _send(
                self, status: int, body: str | bytes, ctype: str = "application/json"
            ) -> None:
                # Bytes are sent as they are: a test can build a huge body before it measures.
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                if engine.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(len(data)))
                self.send_header("Api-Version", "1.41")
                self.end_headers()
                if not engine.chunked:
                    self.wfile.write(data)
                    return
                view = memoryview(data)
                with contextlib.suppress(OSError):  # the client may stop reading at its cap
                    for start in range(0, len(view), 65536):
                        part = view[start : start + 65536]
                        self.wfile.write(b"%x\r\n" % len(part))
                        self.wfile.write(part)
                        self.wfile.write(b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # clients that hang up on a misbehaving engine are the point

        # BaseHTTPRequestHandler wants a (host, port) client address: give it one.
        class UnixHandler(Handler):
            def setup(self) -> None:
                self.client_address = ("fake-engine", 0)
                with engine._lock:
                    engine._connections.add(self.request)
                super().setup()

            def finish(self) -> None:
                with engine._lock:
                    engine._connections.discard(self.request)
                with contextlib.suppress(OSError):
                    super().finish()

        self._server = Server(str(self.socket_path), UnixHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop like a killed daemon: stop listening and drop every open connection."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections, self._connections = set(self._connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)

    def restart(self, pause: float = 0.0) -> None:
        self.stop()
        time.sleep(pause)
        self.start()

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def misbehave(self, handler: BaseHTTPRequestHandler, fault: Fault) -> None:
        w = handler.wfile

        def head(length: int | None, ctype: str = "application/json") -> None:
            handler.send_response(200)
            handler.send_header("Content-Type", ctype)
            if length is not None:
                handler.send_header("Content-Length", str(length))
            handler.end_headers()

        if fault.kind == "notjson":
            body = b"<html>I am a web server, not a Docker daemon</html>"
            head(len(body), "text/html")
            w.write(body)
        elif fault.kind == "cut":
            body = json.dumps(self.responses.get("/info", {"a": "b" * 1000})).encode()
            head(len(body))
            w.write(body[: len(body) // 2])
            w.flush()
            handler.close_connection = True
            handler.connection.shutdown(2)
        elif fault.kind == "hang":
            head(None)
            w.flush()
            self._stopping.wait(3600)
        elif fault.kind == "silent":  # accepted and read, never answered
            self._stopping.wait(3600)
        elif fault.kind == "chunkcut":
            body = json.dumps(self.responses.get("/info", {"a": "b" * 1000})).encode()
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            w.write(b"%x\r\n" % len(body) + body[: len(body) // 2])
            w.flush()
            handler.close_connection = True
            handler.connection.shutdown(2)
        elif fault.kind == "restart":
            with self._lock:
                if fault in self.faults:
                    self.faults.remove(fault)  # once: the daemon comes back healthy
            # From another thread: stop() waits for the serving loop this handler runs under.
            threading.Thread(target=self.restart, args=(fault.size / 1000,), daemon=True).start()
            self._stopping.wait(5)
        elif fault.kind == "slow":  # a byte at a time, each well within a read timeout
            body = json.dumps({"Labels": {"x": "y" * 100}}).encode()
            head(len(body))
            for byte in body:
                w.write(bytes([byte]))
                w.flush()
                time.sleep(0.5)
        elif fault.kind == "huge":
            size = fault.size or 50 * 1024 * 1024
            head(None)  # no Content-Length: the cap must hold while streaming
            chunk = b'{"Labels": {"k": "' + b"x" * 65536
            sent = 0
            try:
                while sent < size:
                    w.write(chunk)
                    sent += len(chunk)
            except OSError:
                pass
            handler.close_connection = True
        elif fault.kind == "deep":
            body = b"[" * 100000 + b"]" * 100000
            head(len(body))
            w.write(body)
        elif fault.kind == "bigint":
            body = b'{"ApiVersion": "1.41", "n": ' + b"9" * 100000 + b"}"
            head(len(body))
            w.write(body)
        elif fault.kind == "status500":
            body = b'{"message": "internal server error"}'
            handler.send_response(500)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            w.write(body)
        elif fault.kind == "close":
            handler.close_connection = True
            handler.connection.shutdown(2)
        else:
            raise ValueError(f"unknown fault {fault.kind}")

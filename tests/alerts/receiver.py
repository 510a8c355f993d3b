"""HTTP receivers on 127.0.0.1 for the channel tests: what Slack, Teams or a webhook endpoint
would be, recording every request and answering from a script (status, headers, delay)."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lab.pki import Pki


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    requests: list[Request] = field(default_factory=list)
    # Answers in order; the last one repeats: (status, headers, seconds to wait first).
    script: list[tuple[int, dict[str, str], float]] = field(default_factory=list)

    def answer(self, status: int, headers: dict[str, str] | None = None, delay: float = 0) -> None:
        self.script.append((status, headers or {}, delay))

    def next_answer(self) -> tuple[int, dict[str, str], float]:
        if not self.script:
            return 200, {}, 0.0
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]


@contextmanager
def receiver(
    pki: Pki | None = None, path: str = "/hooks/T000/B000/s3cr3t-path"
) -> Iterator[Receiver]:
    """A receiver; https with `pki`'s server certificate when given."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            state.requests.append(Request(self.path, dict(self.headers.items()), body))
            status, headers, delay = state.next_answer()
            time.sleep(delay)
            try:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:  # the client gave up (a timeout test)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    scheme = "http"
    if pki is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki.server_cert, pki.server_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    state = Receiver(f"{scheme}://127.0.0.1:{server.server_address[1]}{path}")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()

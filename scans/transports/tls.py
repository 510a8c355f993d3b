"""TCP with mutual TLS, always verified against the host's own CA.

The SSLContext is the only place trust is configured: CA from the host's record (never the
system store, never REQUESTS_CA_BUNDLE), hostname checked, TLS 1.2 at least, and the
client certificate loaded from a private temporary file that exists only for the
microseconds load_cert_chain needs (Python's ssl module cannot load a key from memory).
"""

from __future__ import annotations

import os
import socket
import ssl
import tempfile
from pathlib import Path
from typing import Any

import urllib3
import urllib3.connection
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from hosts.credentials import Credentials
from scans.transports.base import SocketTracker, timeout_for
from scans.transports.dial import Dialer
from scans.transports.errors import ErrorClass, ScanError


def _private_dir() -> str | None:
    # RAM-backed when possible, so the key never reaches a disk block.
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def ssl_context(creds: Credentials) -> ssl.SSLContext:
    if not (creds.ca_cert and creds.client_cert and creds.client_key):
        raise ScanError(
            ErrorClass.CONFIGURATION,
            "tcp:// hosts need a CA certificate, a client certificate and its key",
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED + check_hostname
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cadata=creds.ca_cert)
    except (ssl.SSLError, ValueError) as exc:
        raise ScanError(
            ErrorClass.CONFIGURATION, f"the stored CA certificate is invalid: {exc}"
        ) from None
    with tempfile.TemporaryDirectory(prefix="posture-", dir=_private_dir()) as tmp:
        cert_path, key_path = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        for path, text in ((cert_path, creds.client_cert), (key_path, creds.client_key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
        try:
            context.load_cert_chain(cert_path, key_path)
        except (ssl.SSLError, ValueError) as exc:
            raise ScanError(
                ErrorClass.CONFIGURATION, f"the client certificate or key is invalid: {exc}"
            ) from None
    return context


class TrackedHTTPSConnection(urllib3.connection.HTTPSConnection):
    tracker: SocketTracker
    dialer: Dialer

    def _new_conn(self) -> socket.socket:
        # urllib3 would resolve the name itself: connect to the checked addresses instead.
        # TLS still checks the certificate against self.host, the name as registered.
        try:
            sock = self.dialer.connect(self.host, self.port, timeout_for(self.timeout))
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from exc
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc
        for option in self.socket_options or ():
            sock.setsockopt(*option)
        self.tracker.add_socket(sock)
        return sock


def tls_pool(
    host: str,
    port: int,
    creds: Credentials,
    tracker: SocketTracker,
    maxsize: int,
    timeout: Any,
    dialer: Dialer | None = None,
) -> urllib3.HTTPSConnectionPool:
    connection_cls = type(
        "Conn", (TrackedHTTPSConnection,), {"tracker": tracker, "dialer": dialer or Dialer()}
    )
    pool = urllib3.HTTPSConnectionPool(
        host,
        port,
        maxsize=maxsize,
        block=True,
        timeout=timeout,
        ssl_context=ssl_context(creds),
        cert_reqs="CERT_REQUIRED",
    )
    pool.ConnectionCls = connection_cls
    return pool

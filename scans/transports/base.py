"""The transport contract: one connection pool per host, spoken to directly.

docker-py's own adapters key their pools by URL (a new connection, or over SSH a new
channel and a remote `docker system dial-stdio`, for every distinct path), and requests
lets REQUESTS_CA_BUNDLE replace a per-client CA. So the scan path uses neither: every
transport builds one urllib3 pool for the host, trust is configured only in that pool's
SSLContext, nothing is read from the environment, and bodies are read capped,
time-bounded and parsed fail-closed.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlencode

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error

from scans.transports.errors import ErrorClass, NotFound, ScanError
from scans.transports.stream import BodyStream

MIN_API_VERSION = "1.24"  # Docker 1.12; docker-py's own floor
MAX_API_VERSION = "1.45"  # newest shape this collector was written against


def version_tuple(value: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in value.split("."))
    except (ValueError, AttributeError):
        raise ScanError(ErrorClass.MALFORMED, f"API version {value!r} is not a version") from None


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.expires - time.monotonic()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    def exceeded(self) -> ScanError:
        return ScanError(ErrorClass.TIMEOUT, f"scan exceeded its {self.seconds:.0f}s budget")

    def check(self) -> None:
        if self.expired:
            raise self.exceeded()


class SocketTracker:
    """Remembers the sockets a scan opened, so the watchdog can cut them at the deadline.

    A socket read timeout bounds each recv, not a whole response: a daemon that trickles
    one byte every few seconds would otherwise hold the worker indefinitely.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closers: list[Callable[[], None]] = []
        self.aborted = False

    def add_socket(self, sock: socket.socket) -> None:
        def cut() -> None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

        self.add(cut)

    def add(self, closer: Callable[[], None]) -> None:
        with self._lock:
            if self.aborted:
                closer()
            self._closers.append(closer)

    def abort(self) -> None:
        with self._lock:
            self.aborted = True
            closers, self._closers = self._closers, []
        for closer in closers:
            closer()


def timeout_for(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


class DockerAPI:
    """A scan's view of one daemon: JSON GETs with a size cap and a deadline."""

    def __init__(
        self,
        pool: urllib3.HTTPConnectionPool,
        tracker: SocketTracker,
        deadline: Deadline,
        *,
        connect_timeout: float,
        read_timeout: float,
        max_bytes: int,
        max_object_bytes: int | None = None,
        workers: int = 1,
        ssh_client: Any = None,
        on_close: Callable[[], None] | None = None,
        diagnose: Callable[[], ScanError | None] | None = None,
    ) -> None:
        self.pool = pool
        self.workers = workers  # concurrent requests the pool can serve
        # The paramiko client when the host is reached over SSH: host-level checks (CIS
        # sections 1 and 3) reuse that one connection.
        self.ssh_client = ssh_client
        self.tracker = tracker
        self.deadline = deadline
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_bytes = max_bytes
        self.max_object_bytes = max_object_bytes or max_bytes
        self._on_close = on_close
        self._diagnose = diagnose
        self._watchdog = threading.Timer(max(deadline.remaining(), 0), tracker.abort)
        self._watchdog.daemon = True
        self._watchdog.start()
        # The floor until negotiate() has read the daemon's /version.
        self.api_version = MIN_API_VERSION

    # -- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        self._watchdog.cancel()
        try:
            self.pool.close()
        finally:
            if self._on_close:
                self._on_close()

    def __enter__(self) -> DockerAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests --------------------------------------------------------------------
    def url(self, path: str, params: dict[str, Any] | None = None, versioned: bool = True) -> str:
        url = f"/v{self.api_version}{path}" if versioned else path
        return f"{url}?{urlencode(params)}" if params else url

    def get_raw(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        versioned: bool = True,
        max_bytes: int | None = None,
    ) -> bytes:
        self.deadline.check()
        remaining = max(self.deadline.remaining(), 0.1)
        timeout = urllib3.Timeout(
            connect=min(self.connect_timeout, remaining), read=min(self.read_timeout, remaining)
        )
        try:
            response = self.pool.urlopen(
                "GET",
                self.url(path, params, versioned),
                headers={"Host": "docker", "User-Agent": "posture"},
                retries=False,
                redirect=False,
                timeout=timeout,
                preload_content=False,
                pool_timeout=int(remaining) + 1,
            )
            try:
                if response.status >= 400:
                    self._raise_for_status(response, path)
                return self._read_capped(response, max_bytes or self.max_bytes)
            finally:
                response.release_conn()
        except (ScanError, NotFound):
            raise
        except Exception as exc:  # noqa: BLE001 - classified below, never swallowed
            raise self.classify(exc) from exc

    def get_json(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        versioned: bool = True,
        max_bytes: int | None = None,
    ) -> Any:
        return parse_json(self.get_raw(path, params, versioned, max_bytes), path)

    @contextlib.contextmanager
    def get_stream(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        max_bytes: int | None = None,
        versioned: bool = True,
    ) -> Iterator[BodyStream]:
        """A GET whose body is handed over as a file-like object, for bodies too large to
        hold (an image archive): read in pieces, counted against max_bytes, bounded by the
        scan's deadline and cut by its watchdog like every other request.

        HTTP errors are classified as get_raw classifies them (404: NotFound). What the
        reader raises (a parser's own error) passes through untouched. On exit the
        connection goes back to the pool when the body was read to its end, and is closed
        otherwise: a half-read body cannot carry another request.
        """
        cap = max_bytes or self.max_bytes
        with self._unread("GET", path, params, versioned) as response:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > cap:
                raise ScanError(
                    ErrorClass.MALFORMED,
                    f"{path}: response of {int(declared)} bytes exceeds the {cap}-byte cap",
                )
            yield BodyStream(self, response, path, cap)

    def head(
        self, path: str, params: dict[str, Any] | None = None, versioned: bool = True
    ) -> Mapping[str, str]:
        """A HEAD's response headers, errors classified as get_raw classifies them.

        The container archive endpoint answers HEAD with the path's stat alone: ~1.5 ms
        where a GET of the same file costs dockerd a re-exec into the container's root
        (~50-100 ms, measured on the lab daemon).
        """
        with self._unread("HEAD", path, params, versioned) as response:
            try:
                response.read()
            except Exception as exc:  # noqa: BLE001 - classified below, never swallowed
                raise self.classify(exc) from exc
            return response.headers

    @contextlib.contextmanager
    def _unread(
        self, method: str, path: str, params: dict[str, Any] | None, versioned: bool
    ) -> Iterator[urllib3.BaseHTTPResponse]:
        """A response whose status was checked and whose body is left to the caller."""
        self.deadline.check()
        remaining = max(self.deadline.remaining(), 0.1)
        timeout = urllib3.Timeout(
            connect=min(self.connect_timeout, remaining), read=min(self.read_timeout, remaining)
        )
        try:
            response = self.pool.urlopen(
                method,
                self.url(path, params, versioned),
                headers={"Host": "docker", "User-Agent": "posture"},
                retries=False,
                redirect=False,
                timeout=timeout,
                preload_content=False,
                pool_timeout=int(remaining) + 1,
            )
        except Exception as exc:  # noqa: BLE001 - classified below, never swallowed
            raise self.classify(exc) from exc
        try:
            if response.status >= 400:
                try:
                    self._raise_for_status(response, path)
                except (ScanError, NotFound):
                    raise
                except Exception as exc:  # noqa: BLE001 - classified, never swallowed
                    raise self.classify(exc) from exc
            yield response
        finally:
            if not response.closed:
                response.close()
            response.release_conn()

    def _read_capped(self, response: urllib3.BaseHTTPResponse, cap: int) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise ScanError(
                ErrorClass.MALFORMED,
                f"response of {int(declared)} bytes exceeds the {cap}-byte cap",
            )
        chunks: list[bytes] = []
        size = 0
        for chunk in response.stream(65536, decode_content=True):
            size += len(chunk)
            if size > cap:
                raise ScanError(ErrorClass.MALFORMED, f"response exceeds the {cap}-byte cap")
            chunks.append(chunk)
            self.deadline.check()
        # The watchdog cuts a scan's sockets at the deadline, and a cut socket reads as a
        # clean end of body: without this, a daemon that sent its headers and then hung
        # would be reported as sending garbage instead of timing out.
        if self.tracker.aborted:
            raise self.deadline.exceeded()
        self.deadline.check()
        return b"".join(chunks)

    def _raise_for_status(self, response: urllib3.BaseHTTPResponse, path: str) -> None:
        status = response.status
        try:
            text = response.read(2048, decode_content=True).decode("utf-8", "replace")
            message = str(json.loads(text).get("message", text))
        except Exception:  # noqa: BLE001 - an error body is advisory only
            message = ""
        message = message.strip()[:300]
        if status == 404:
            raise NotFound(path)
        if status == 400 and "version" in message.lower():
            raise ScanError(ErrorClass.API_VERSION, message)
        if status in (401, 403):
            raise ScanError(ErrorClass.AUTH_FAILED, f"HTTP {status} {message}".strip())
        if status >= 500:
            raise ScanError(ErrorClass.DAEMON_ERROR, f"{path}: HTTP {status} {message}".strip())
        raise ScanError(ErrorClass.MALFORMED, f"{path}: unexpected HTTP {status} {message}")

    def classify(self, exc: BaseException) -> ScanError:
        if self.tracker.aborted or self.deadline.expired:
            return self.deadline.exceeded()
        if self._diagnose:
            found = self._diagnose()
            if found:
                return found
        return classify_exception(exc)

    # -- Engine API ------------------------------------------------------------------
    def negotiate(self) -> dict[str, Any]:
        """Read /version (unversioned) and settle the API version used for the rest."""
        ping = self.get_raw("/_ping", versioned=False)
        if ping.strip() not in (b"OK", b""):
            raise ScanError(ErrorClass.MALFORMED, "/_ping did not answer OK: not a Docker API?")
        version = self.get_json("/version", versioned=False)
        if not isinstance(version, dict) or not isinstance(version.get("ApiVersion"), str):
            raise ScanError(ErrorClass.MALFORMED, "/version has no ApiVersion")
        server = version["ApiVersion"]
        if version_tuple(server) < version_tuple(MIN_API_VERSION):
            raise ScanError(
                ErrorClass.API_VERSION,
                f"daemon API {server} is older than {MIN_API_VERSION} "
                f"(engine {str(version.get('Version', '?'))[:40]})",
            )
        chosen = min(version_tuple(server), version_tuple(MAX_API_VERSION))
        floor = version.get("MinAPIVersion")
        if isinstance(floor, str) and version_tuple(floor) > chosen:
            chosen = version_tuple(floor)
        self.api_version = ".".join(str(p) for p in chosen)
        return version


# The Engine API nests a handful of levels (Swarm specs about ten). json.loads stops only
# at the interpreter's recursion limit, which depends on how deep the caller's stack is: a
# body parsed on a shallow inspect thread could then overflow json.dumps in storage.
MAX_DEPTH = 64
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_INNERMOST = re.compile(r"[\[{][^\[\]{}]*[\]}]")
# JSON escapes of UTF-16 surrogates and of NUL: only then are strings worth walking.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:[dD][89a-fA-F]|0000)")


def parse_json(body: bytes, what: str) -> Any:
    """Parse an untrusted body fail-closed: anything odd is a classified ScanError."""
    try:
        # Decoded here, not by json.loads: it would also accept UTF-16 and UTF-32, which no
        # daemon sends and the escape scan below does not read.
        text = body.decode("utf-8")
        data = json.loads(text)
    except RecursionError:
        raise ScanError(ErrorClass.MALFORMED, f"{what}: JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        # ValueError also covers integers longer than Python's digit limit.
        raise ScanError(ErrorClass.MALFORMED, f"{what}: not JSON ({exc})"[:300]) from None
    if _too_deep(text):
        raise ScanError(ErrorClass.MALFORMED, f"{what}: JSON nested deeper than {MAX_DEPTH} levels")
    if _SUSPECT_ESCAPE.search(text):
        _clean_strings(data, what)
        if isinstance(data, str):
            data = _clean(data, what)
    return data


def _too_deep(text: str) -> bool:
    """On valid JSON text: is any value nested deeper than MAX_DEPTH?

    Regular expressions rather than a walk of the parsed value: each pass removes the
    innermost containers at C speed, where a Python walk of a capped body of `[{},{},...]`
    would visit a third of a million objects.
    """
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    skeleton = _STRING.sub("0", text)
    for _ in range(MAX_DEPTH):
        skeleton, found = _INNERMOST.subn("0", skeleton)
        if not found:
            return False
    return "[" in skeleton or "{" in skeleton


def _clean(value: str, what: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate escape: no daemon writes one, and neither the database nor the
        # page encoder can take it.
        raise ScanError(ErrorClass.MALFORMED, f"{what}: a string is not valid Unicode") from None
    # Valid JSON and Unicode, but PostgreSQL refuses NUL in text and jsonb.
    return value.replace("\x00", "\ufffd")


def _clean_strings(data: Any, what: str) -> None:
    """Clean every key and string of data in place (data is at most MAX_DEPTH deep)."""
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            items = [
                (_clean(k, what), _clean(v, what) if isinstance(v, str) else v)
                for k, v in node.items()
            ]
            node.clear()
            node.update(items)
            stack.extend(v for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            node[:] = [_clean(v, what) if isinstance(v, str) else v for v in node]
            stack.extend(v for v in node if isinstance(v, dict | list))


def classify_exception(exc: BaseException) -> ScanError:
    """Map what urllib3, ssl, paramiko channels and sockets raise to the taxonomy."""
    seen: set[int] = set()
    current: BaseException | None = exc
    chain: list[BaseException] = []
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        nxt = current.__cause__ or current.__context__
        if nxt is None and current.args and isinstance(current.args[0], BaseException):
            nxt = current.args[0]
        if nxt is None and hasattr(current, "reason") and isinstance(current.reason, BaseException):
            nxt = current.reason
        current = nxt
    text = " | ".join(str(e) for e in chain)[:400]
    for err in chain:
        if isinstance(err, ssl.SSLCertVerificationError):
            return ScanError(ErrorClass.TLS_VERIFY, err.verify_message or str(err))
    for err in chain:
        if isinstance(err, ssl.SSLError):
            reason = (getattr(err, "reason", "") or "").upper()
            if "CERTIFICATE" in reason and (
                "BAD" in reason
                or "UNKNOWN" in reason
                or "REQUIRED" in reason
                or "EXPIRED" in reason
            ):
                return ScanError(
                    ErrorClass.AUTH_FAILED, f"the daemon rejected the client certificate ({reason})"
                )
            return ScanError(ErrorClass.TLS_VERIFY, f"TLS handshake failed: {err}"[:300])
    # Refusals first: urllib3's NewConnectionError subclasses ConnectTimeoutError.
    for err in chain:
        if isinstance(err, ConnectionRefusedError | FileNotFoundError | socket.gaierror):
            return ScanError(ErrorClass.UNREACHABLE, text)
        if isinstance(err, PermissionError):
            return ScanError(ErrorClass.PERMISSION_DENIED, text)
        if isinstance(err, OSError) and err.errno in (2, 101, 111, 113):  # ENOENT, unreachable
            return ScanError(ErrorClass.UNREACHABLE, text)
    for err in chain:
        if isinstance(err, urllib3.exceptions.NewConnectionError):
            continue
        if isinstance(
            err,
            socket.timeout
            | TimeoutError
            | urllib3.exceptions.ReadTimeoutError
            | urllib3.exceptions.ConnectTimeoutError,
        ):
            return ScanError(ErrorClass.TIMEOUT, text)
    for err in chain:
        if isinstance(
            err,
            urllib3.exceptions.ProtocolError
            | urllib3.exceptions.IncompleteRead
            | urllib3.exceptions.DecodeError,
        ):
            return ScanError(ErrorClass.MALFORMED, f"response cut off or garbled: {text}"[:300])
        if isinstance(err, Urllib3Error | ConnectionError | EOFError):
            return ScanError(ErrorClass.UNREACHABLE, text)
    return ScanError(ErrorClass.INTERNAL, f"{type(exc).__name__}: {text}"[:300])

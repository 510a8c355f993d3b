"""The body of a streamed GET (DockerAPI.get_stream): a file-like object for bodies too
large to hold in memory, such as an image archive, that counts every byte against the
request's cap, checks the scan's deadline between reads and classifies what the socket
raises as every other request does. It lives apart from base.py only to keep that module
small; DockerAPI is the only thing that builds one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import urllib3

from scans.transports.errors import ErrorClass, ScanError

if TYPE_CHECKING:
    from scans.transports.base import DockerAPI


class BodyStream:
    """The body of one streamed GET: read(n) as a parser expects it, with every byte counted
    against the cap and the deadline checked between reads."""

    def __init__(
        self, api: DockerAPI, response: urllib3.BaseHTTPResponse, path: str, cap: int
    ) -> None:
        self._api = api
        self._response = response
        self.path = path
        self.cap = cap
        self.headers = response.headers
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(1 << 20), b""))
        api = self._api
        api.deadline.check()
        try:
            data = self._response.read(size, decode_content=True)
        except Exception as exc:  # noqa: BLE001 - classified, never swallowed
            raise api.classify(exc) from exc
        self.bytes_read += len(data)
        if self.bytes_read > self.cap:
            raise ScanError(
                ErrorClass.MALFORMED, f"{self.path}: response exceeds the {self.cap}-byte cap"
            )
        # A socket the watchdog cut reads as a clean end of body (see _read_capped).
        if (not data and size) and api.tracker.aborted:
            raise api.deadline.exceeded()
        api.deadline.check()
        return data

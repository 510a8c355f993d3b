"""POST one message to a channel's URL, under the same rules as any connection Posture makes.

The URL is a secret (Slack's and Teams' paths are the credential), so nothing here logs or
raises it: errors name the host at most. The host is resolved once and every address checked
against the target policy (hosts.targets, through the scans' Dialer), and the connection goes
to a checked address, so DNS rebinding gains nothing. HTTPS is verified against the system
trust (ssl.create_default_context: OpenSSL's default paths, never REQUESTS_CA_BUNDLE, which
only the requests library reads); plain http only to a loopback address the policy allows (a
relay on the same machine, the tests' receivers). A redirect is an error (following it would
leave the checked address), and at most CAP bytes of an answer are read.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import urllib3
import urllib3.connection
from django.conf import settings
from django.utils.translation import gettext as _
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.exceptions import SSLError as Urllib3SSLError

from hosts.targets import TargetRefused, current_policy, parse_host
from scans.transports.dial import Dialer
from scans.transports.errors import ScanError

# urllib3 logs each request's path and query at DEBUG: for a channel that is the secret.
# Its records are dropped while this thread posts to a channel (other users of urllib3, the
# scans' Docker API calls, keep theirs).
_posting = threading.local()


class _QuietWhilePosting(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_posting, "active", False)


logging.getLogger("urllib3.connectionpool").addFilter(_QuietWhilePosting())

CAP = 64 * 1024  # bytes of a receiver's answer read at most: it is only ever logged by size
MAX_URL = 2000


class Error(StrEnum):
    """Why an attempt failed, as recorded on its DeliveryAttempt row."""

    HTTP = "http"  # an answer outside 2xx: status_code says which
    REDIRECT = "redirect"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    TLS = "tls"
    REFUSED = "target_refused"
    CONFIGURATION = "configuration"  # no URL, or one the workers cannot open


@dataclass(frozen=True)
class Outcome:
    status_code: int | None = None
    error: str = ""  # empty: delivered
    permanent: bool = False
    retry_after: float | None = None  # seconds, from a 429's or 503's Retry-After
    duration_ms: int = 0

    @property
    def delivered(self) -> bool:
        return not self.error


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str


def parse_url(url: str) -> Target:
    """The parts of a channel URL; TargetRefused with a sentence a person can act on."""
    text = url.strip()
    if len(text) > MAX_URL:
        raise TargetRefused(_("The URL is too long."))
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise TargetRefused(_("This is not a URL.")) from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise TargetRefused(_("Give the full URL, starting with https://."))
    if parts.username or parts.password:
        raise TargetRefused(_("Write the URL without a user name or password in it."))
    literal = parse_host(parts.hostname)
    if parts.scheme == "http" and not (literal is not None and literal.is_loopback):
        # Plain http would hand the URL's secret path and every message to the network.
        raise TargetRefused(_("Use https:// (plain http only reaches this machine's loopback)."))
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, parts.hostname, port or default, path)


def host_of(url: str) -> str:
    """The host part alone: what a page or a log line may say of a URL."""
    try:
        return parse_url(url).host
    except TargetRefused:
        return ""


LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def checked_addresses(dialer: Dialer, target: Target) -> list[str]:
    """The target's addresses under the policy; TargetRefused, OSError when unresolvable.

    Stricter than for a Docker endpoint on one point: any account may add a channel, and a
    POST to a path of its choosing on this machine (a Docker API on 127.0.0.1:2375, an admin
    port) is an action, not a read. So a loopback address is taken only when an entry of
    POSTURE_ALLOWED_TARGETS names it (an entry inside 127.0.0.0/8 or ::1), never through `*`
    or an empty policy."""
    try:
        found = dialer.addresses(target.host, target.port)
    except ScanError as exc:
        raise TargetRefused(exc.detail) from None
    policy = current_policy()
    for text in found:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if not address.is_loopback:
            continue
        if not any(
            entry.covers(address, target.port) and any(entry.names(n) for n in LOOPBACK)
            for entry in policy.entries
        ):
            raise TargetRefused(
                _(
                    "%(address)s is this machine: alerts are posted there only when "
                    "POSTURE_ALLOWED_TARGETS names it."
                )
                % {"address": address}
            )
    return found


def check_url(url: str) -> None:
    """For the form: the URL's shape and, when it resolves now, every address under the
    policy. A name that does not resolve yet is left to the send-time check."""
    target = parse_url(url)
    with contextlib.suppress(OSError):
        checked_addresses(Dialer(), target)


def _connection_class(base: type, dialer: Dialer) -> type:
    def _new_conn(self: Any) -> socket.socket:
        # Connect to the addresses the policy checked, never to the name (DNS rebinding);
        # TLS still checks the certificate against the name in the URL.
        try:
            return dialer.connect(self.host, self.port, self.timeout)
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from exc
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to connect to {self.host}: {exc}") from exc

    return type("ChannelConnection", (base,), {"_new_conn": _new_conn})


def _pool(target: Target, dialer: Dialer, timeout: float) -> urllib3.HTTPConnectionPool:
    limits = urllib3.Timeout(connect=timeout, read=timeout)
    pool: urllib3.HTTPConnectionPool
    if target.scheme == "https":
        context = ssl.create_default_context()  # the system trust, hostname checked
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        pool = urllib3.HTTPSConnectionPool(
            target.host, target.port, timeout=limits, retries=False, ssl_context=context
        )
        pool.ConnectionCls = _connection_class(urllib3.connection.HTTPSConnection, dialer)
    else:
        pool = urllib3.HTTPConnectionPool(target.host, target.port, timeout=limits, retries=False)
        pool.ConnectionCls = _connection_class(urllib3.connection.HTTPConnection, dialer)
    return pool


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: a number, or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def _answer(status: int, headers: Any) -> Outcome:
    if 200 <= status < 300:
        return Outcome(status)
    if 300 <= status < 400:
        return Outcome(status, Error.REDIRECT, permanent=True)
    transient = status >= 500 or status in (408, 429)
    wait = retry_after(headers.get("Retry-After")) if status in (429, 503) else None
    return Outcome(status, Error.HTTP, permanent=not transient, retry_after=wait)


def post(url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    """One attempt; never raises for what a receiver or the network does."""
    started = time.monotonic()
    outcome = _post(url, body, headers)
    duration = int((time.monotonic() - started) * 1000)
    return Outcome(
        outcome.status_code, outcome.error, outcome.permanent, outcome.retry_after, duration
    )


def _post(url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    try:
        target = parse_url(url)
    except TargetRefused:
        return Outcome(error=Error.REFUSED, permanent=True)
    dialer = Dialer()
    try:
        checked_addresses(dialer, target)
    except TargetRefused:
        return Outcome(error=Error.REFUSED, permanent=True)
    except OSError:  # the name does not resolve: perhaps a DNS hiccup
        return Outcome(error=Error.CONNECTION)
    timeout = float(settings.POSTURE_ALERT_CHANNEL_TIMEOUT)
    pool = _pool(target, dialer, timeout)
    sent = {"Content-Type": "application/json", "User-Agent": "Posture-Alerts/1", **headers}
    _posting.active = True
    try:
        response = pool.urlopen(
            "POST", target.path, body=body, headers=sent, redirect=False, preload_content=False
        )
        try:
            response.read(CAP, decode_content=False)
        finally:
            response.close()
        return _answer(response.status, response.headers)
    except (ReadTimeoutError, ConnectTimeoutError, TimeoutError):
        return Outcome(error=Error.TIMEOUT)
    except Urllib3SSLError:
        # A certificate the system does not trust, or for another name: not a passing fault.
        return Outcome(error=Error.TLS, permanent=True)
    except (NewConnectionError, ProtocolError, HTTPError, OSError):
        return Outcome(error=Error.CONNECTION)
    finally:
        pool.close()
        _posting.active = False

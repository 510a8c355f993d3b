"""Parse and validate the endpoint a user types for a host.

Three shapes are accepted:
  unix:///var/run/docker.sock
  tcp://docker1.example.org:2376          (always mutual TLS, always verified)
  ssh://user@docker1.example.org:22       (optional ?socket=/run/user/1000/docker.sock)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


class Transport(StrEnum):
    UNIX = "unix"
    TLS = "tls"
    SSH = "ssh"


@dataclass(frozen=True)
class Endpoint:
    transport: Transport
    host: str = ""
    port: int = 0
    user: str = ""
    socket_path: str = ""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$")
_SOCKET = re.compile(r"^/[A-Za-z0-9_./@-]{1,200}$")


def _host_and_port(netloc_host: str | None, port: int | None, default_port: int) -> tuple[str, int]:
    if not netloc_host:
        raise ValidationError(_("The endpoint has no host name."))
    # A trailing dot only says the name is absolute; the name is the same without it.
    host = netloc_host[:-1] if netloc_host.endswith(".") else netloc_host
    if "%" in host and ":" not in host:
        raise ValidationError(
            f"{host!r} is percent-encoded: write the host name or address in plain characters."
        )
    if ":" in host:  # IPv6 literal
        import ipaddress

        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValidationError(
                _("%(host)s is not a valid host name or address.") % {"host": repr(host)}
            ) from None
    elif not _HOSTNAME.match(host):
        raise ValidationError(
            _("%(host)s is not a valid host name or address.") % {"host": repr(host)}
        )
    return host, port or default_port


def _port(netloc: str) -> int | None:
    """The port as written, strictly: urlsplit takes `:0` (read as "the default" below),
    `:+22` and non-ASCII digits such as `:２２`."""
    hostport = netloc.rpartition("@")[2]
    text = hostport.rpartition("]")[2] if hostport.startswith("[") else hostport
    if ":" not in text:
        return None
    digits = text.rpartition(":")[2]
    if not re.fullmatch(r"[0-9]{1,5}", digits) or not 1 <= int(digits) <= 65535:
        raise ValueError(f"port {digits!r} is not a TCP port from 1 to 65535")
    return int(digits)


def parse_endpoint(raw: str) -> Endpoint:
    raw = (raw or "").strip()
    if not raw:
        raise ValidationError(_("Enter an endpoint such as tcp://host:2376 or ssh://user@host."))
    try:
        parts = urlsplit(raw)
        port = _port(parts.netloc)
    except ValueError as exc:
        raise ValidationError(
            _("The endpoint is not a valid URL (%(error)s).") % {"error": exc}
        ) from None

    if parts.scheme == "unix":
        path = parts.path or ""
        if parts.netloc or not _SOCKET.match(path):
            raise ValidationError(_("A unix endpoint looks like unix:///var/run/docker.sock."))
        return Endpoint(Transport.UNIX, socket_path=path)

    if parts.scheme in ("tcp", "https"):
        if parts.path not in ("", "/") or parts.query or parts.username:
            raise ValidationError(_("A TCP endpoint looks like tcp://host:2376, nothing more."))
        host, port = _host_and_port(parts.hostname, port, 2376)
        return Endpoint(Transport.TLS, host=host, port=port)

    if parts.scheme == "ssh":
        user = parts.username or ""
        if not _USER.match(user):
            raise ValidationError(_("An SSH endpoint needs a user: ssh://user@host:22."))
        if parts.password:
            raise ValidationError(_("Put no password in the endpoint: Posture uses SSH keys only."))
        if parts.path not in ("", "/"):
            raise ValidationError(_("Give a remote socket as ?socket=/path, not as a URL path."))
        socket_path = ""
        if parts.query:
            query = parse_qs(parts.query, strict_parsing=False)
            if set(query) - {"socket"}:
                raise ValidationError(_("The only SSH option is ?socket=/path/to/docker.sock."))
            socket_path = query.get("socket", [""])[0]
            if not _SOCKET.match(socket_path):
                raise ValidationError(_("The remote socket must be an absolute path."))
        host, port = _host_and_port(parts.hostname, port, 22)
        return Endpoint(Transport.SSH, host=host, port=port, user=user, socket_path=socket_path)

    if parts.scheme == "http":
        raise ValidationError(
            "Plain http:// is refused: an unauthenticated Docker API is root on the host "
            "(cheat-sheet rule 1). Use tcp:// with mutual TLS or ssh://."
        )
    raise ValidationError(_("The endpoint must start with unix://, tcp:// or ssh://."))


def parse_ssh_access(raw: str) -> Endpoint:
    """The separate SSH access of a tcp:// host (host-level checks only): user@host[:port],
    with or without the ssh:// scheme. No ?socket: the Docker API is not reached this way."""
    raw = (raw or "").strip()
    endpoint = parse_endpoint(raw if raw.startswith("ssh://") else f"ssh://{raw}")
    if endpoint.socket_path:
        raise ValidationError(_("SSH access for host checks takes no ?socket option."))
    return endpoint


def format_ssh_access(endpoint: Endpoint) -> str:
    """The one stored spelling: user@host:port (an IPv6 literal in brackets)."""
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    return f"{endpoint.user}@{host}:{endpoint.port}"

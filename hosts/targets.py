"""What hosts Posture may reach: the target policy (POSTURE_ALLOWED_TARGETS).

A stored credential is root on a host, and a scan is a connection Posture makes on a
user's word: without a policy, whoever may register a host can make the workers knock on
any address they reach — the cloud metadata service that hands out the machine's own
credentials, an admin interface on the internal network. So every address is checked
twice: when an endpoint is registered (check_endpoint, for a clear message in the form) and
at connect time, against every address the name resolves to (resolve_checked), which is
the check that counts: the transports then connect to those checked addresses only, so a
name that resolves elsewhere a second time (DNS rebinding) gains nothing.

Some addresses are refused whatever the policy's wide entries say, unless an entry names
them explicitly (an entry inside their block): link-local (where the metadata services
live), the metadata addresses of the large clouds, 0.0.0.0/8 (this machine), multicast,
reserved and broadcast. IPv6 forms that carry an IPv4 address (mapped, compatible, NAT64,
6to4, Teredo) are checked as that IPv4 address too.

Ambiguous spellings are refused, never guessed at: `0251.0376.0251.0376`, `0xa9.0xfe.0xa9.0xfe`,
`2852039166` and `169.254.43518` are all 169.254.169.254 to the C library's resolver, so a
host written that way would slip past any check that reads it as a name.
"""

from __future__ import annotations

import contextlib
import ipaddress
import posixpath
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from django.core.exceptions import ValidationError

from hosts.endpoints import Transport, parse_endpoint

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> the addresses to connect to, in order. The system resolver by default;
# tests pass their own (a name whose answers change between calls, for instance).
Resolver = Callable[[str, int], Sequence[str]]


class TargetRefused(ValueError):
    """The target is outside the policy or written ambiguously; `sentence` says why."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


@dataclass(frozen=True)
class Block:
    network: IPNetwork
    what: str


def _block(network: str, what: str) -> Block:
    return Block(ipaddress.ip_network(network), what)


# Most specific first: the first block an address falls in names it in messages.
REFUSED = (
    _block("169.254.169.254/32", "the cloud metadata address (AWS, GCP, Azure, OpenStack…)"),
    _block("fd00:ec2::254/128", "AWS's IPv6 metadata address"),
    _block("100.100.100.200/32", "Alibaba Cloud's metadata address"),
    _block("168.63.129.16/32", "Azure's wire server"),
    _block("255.255.255.255/32", "the broadcast address"),
    _block("169.254.0.0/16", "a link-local address"),
    _block("fe80::/10", "an IPv6 link-local address"),
    _block("0.0.0.0/8", "in 0.0.0.0/8 ('this network': it reaches this machine)"),
    _block("::/128", "the unspecified IPv6 address (it reaches this machine)"),
    _block("224.0.0.0/4", "a multicast address"),
    _block("ff00::/8", "an IPv6 multicast address"),
    _block("240.0.0.0/4", "a reserved address"),
    # Local-use NAT64 prefixes embed the IPv4 address in an operator-chosen layout: which
    # host they reach cannot be told from the address.
    _block("64:ff9b:1::/48", "a local-use NAT64 address (its IPv4 target cannot be checked)"),
)
# Names that reach a metadata service without resolving to its usual address everywhere.
METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.com",
    }
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")


# -- The policy ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    network: IPNetwork | None  # None: `*`, any address
    ports: tuple[tuple[int, int], ...] = ()  # inclusive ranges; none: any port

    def covers(self, address: IPAddress, port: int) -> bool:
        if self.network is not None and (
            address.version != self.network.version or address not in self.network
        ):
            return False
        return not self.ports or any(low <= port <= high for low, high in self.ports)

    def names(self, block: IPNetwork) -> bool:
        """Whether this entry was written for that refused block: it lies inside it."""
        return (
            self.network is not None
            and self.network.version == block.version
            and self.network.subnet_of(block)  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class Policy:
    entries: tuple[Entry, ...] = ()  # none: any address outside the refused blocks


_PORTS = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")


def _ports(text: str, entry: str) -> tuple[int, int]:
    match = _PORTS.match(text)
    if not match:
        raise ValueError(f"{entry!r}: {text!r} is not a port or a port range such as 2376-2377")
    low = int(match[1])
    high = int(match[2] or low)
    if not (1 <= low <= high <= 65535):
        raise ValueError(f"{entry!r}: ports run from 1 to 65535, low to high")
    return low, high


def _network(text: str, entry: str) -> IPNetwork | None:
    if text == "*":
        return None
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise ValueError(f"{entry!r}: {exc}") from None


def parse_policy(text: str) -> Policy:
    """Parse POSTURE_ALLOWED_TARGETS; ValueError names the bad entry.

    Entries are comma-separated NETWORK[:PORTS], an IPv6 network with ports in brackets
    (`[fd00::/8]:2376`). A bare number or range right after an entry with ports adds to its
    ports: in `192.168.1.0/24:22,2376` both ports belong to 192.168.1.0/24.
    """
    entries: list[Entry] = []
    for token in (t.strip() for t in text.split(",")):
        if not token:
            continue
        if _PORTS.match(token):
            if not entries or not entries[-1].ports:
                raise ValueError(f"{token!r} is a port, but no NETWORK:PORT entry comes before it")
            last = entries[-1]
            entries[-1] = Entry(last.network, (*last.ports, _ports(token, token)))
            continue
        match = re.fullmatch(r"\[([^\]]+)\](?::(.+))?", token)
        if match:
            net, ports = match[1], match[2]
        elif token.count(":") == 1:
            net, ports = token.split(":")
        else:  # an IPv6 network without ports, or an IPv4 one / `*`
            net, ports = token, None
        entries.append(
            Entry(_network(net, token), (_ports(ports, token),) if ports is not None else ())
        )
    return Policy(tuple(entries))


@lru_cache(maxsize=8)
def _cached_policy(text: str) -> Policy:
    return parse_policy(text)


def current_policy() -> Policy:
    """The policy of the settings (tests override POSTURE_ALLOWED_TARGETS per test)."""
    from django.conf import settings

    text = getattr(settings, "POSTURE_ALLOWED_TARGETS", "")
    try:
        return _cached_policy(text)
    except ValueError as exc:
        # Fail closed: a policy that cannot be read allows nothing.
        raise TargetRefused(
            f"POSTURE_ALLOWED_TARGETS cannot be read, so nothing is allowed: {exc}"
        ) from None


# -- Addresses -------------------------------------------------------------------------------


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (and reaches through a translator)."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped:
        found.append(address.ipv4_mapped)
    elif int(address) < 2**32 and int(address) > 1:  # IPv4-compatible ::a.b.c.d
        found.append(ipaddress.IPv4Address(int(address)))
    if address in NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour:
        found.append(address.sixtofour)
    if address.teredo:
        found.extend(address.teredo)
    return found


def _ip(value: str | IPAddress) -> IPAddress:
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        address: IPAddress = value
    else:
        address = ipaddress.ip_address(value.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address):
        address = address.ipv4_mapped or ipaddress.IPv6Address(int(address))  # drop any zone
    return address


def check_port(port: object) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise TargetRefused(f"{port!r} is not a TCP port: ports run from 1 to 65535.")
    return port


def check_address(
    ip: str | IPAddress, port: int, policy: Policy | None = None, *, name: str = ""
) -> None:
    """None when Posture may connect to ip:port; TargetRefused (a sentence) otherwise.

    `name`: the host name ip was resolved from, for the sentence.
    """
    port = check_port(port)
    try:
        address = _ip(ip)
    except ValueError:
        raise TargetRefused(f"{ip!r} is not an IP address.") from None
    policy = current_policy() if policy is None else policy
    subject = f"{name} resolves to {address}, which is" if name else f"{address} is"
    candidates: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        candidates += embedded_ipv4(address)
    for candidate in candidates:
        blocks = [b for b in REFUSED if candidate in b.network]
        if blocks and not any(
            e.covers(candidate, port) and all(e.names(b.network) for b in blocks)
            for e in policy.entries
        ):
            carried = "" if candidate == address else f" an IPv6 form of {candidate},"
            raise TargetRefused(
                f"{subject}{carried} {blocks[0].what}: Posture does not connect there "
                f"unless POSTURE_ALLOWED_TARGETS names it explicitly (an entry inside "
                f"{blocks[0].network})."
            )
    if policy.entries and not any(e.covers(address, port) for e in policy.entries):
        raise TargetRefused(
            f"{subject} outside the targets this Posture may reach on port {port} "
            "(POSTURE_ALLOWED_TARGETS)."
        )


# -- Host names as written -------------------------------------------------------------------

_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")
_CANONICAL_OCTET = re.compile(r"^(?:0|[1-9][0-9]{0,2})$")
_ZONE = re.compile(r"^[a-z0-9_.-]{1,32}$")


def _inet_aton(labels: list[str]) -> ipaddress.IPv4Address | None:
    """What the C library's inet_aton makes of numeric labels (None: nothing valid)."""
    if not 1 <= len(labels) <= 4:
        return None
    try:
        numbers = [
            int(x[2:] or "0", 16) if x.startswith("0x") else int(x, 8 if x[0] == "0" else 10)
            for x in labels
        ]
    except ValueError:  # 08, 09: not octal
        return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = last
    for index, number in enumerate(head):
        value |= number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def parse_host(host: str) -> IPAddress | None:
    """The address a host is written as, None for a name; TargetRefused when ambiguous.

    Accepts a trailing dot, upper case and a bracketed IPv6 address with a zone id;
    refuses percent-encoding and every IPv4 spelling but four decimal numbers.
    """
    text = host.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1]
    if not text:
        raise TargetRefused("The endpoint has no host name.")
    if ":" in text:
        address, _, zone = text.partition("%")
        if zone and not _ZONE.match(zone.removeprefix("25")):
            raise TargetRefused(f"{host!r} has an unreadable IPv6 zone id.")
        try:
            return _ip(ipaddress.IPv6Address(address))
        except ValueError:
            raise TargetRefused(f"{host!r} is not a valid IPv6 address.") from None
    if "%" in text:
        raise TargetRefused(
            f"{host!r} is percent-encoded: write the host name or address in plain characters."
        )
    labels = text.split(".")
    if all(_NUMERIC_LABEL.match(label) for label in labels):
        if len(labels) == 4 and all(_CANONICAL_OCTET.match(x) and int(x) < 256 for x in labels):
            return ipaddress.IPv4Address(text)
        meant = _inet_aton(labels)
        reading = f" (the system would read it as {meant})" if meant else ""
        raise TargetRefused(
            f"{host!r} is an IP address in a non-standard form{reading}: write IPv4 "
            "addresses as four decimal numbers without leading zeros, such as 192.0.2.10."
        )
    if labels[-1].isdigit():
        raise TargetRefused(f"{host!r} is neither a host name nor an IPv4 address.")
    return None


def system_resolver(host: str, port: int) -> list[str]:
    found: list[str] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = str(sockaddr[0])
        if address not in found:
            found.append(address)
    return found


def resolve_checked(
    host: str, port: int, *, resolver: Resolver | None = None, policy: Policy | None = None
) -> list[str]:
    """Every address host resolves to, each checked: connect to these and nothing else.

    One refused address refuses the name: a name that answers both a real host and the
    metadata address is hostile, and which one a client tries first is not ours to pick.
    socket.gaierror passes through (the host is unreachable, not refused).
    """
    port = check_port(port)
    policy = current_policy() if policy is None else policy
    literal = parse_host(host)
    if literal is not None:
        check_address(literal, port, policy)
        zone = host.strip().strip("[]").partition("%")[2]
        return [f"{literal}%{zone.removeprefix('25')}" if zone else str(literal)]
    name = host.strip().lower().rstrip(".")
    if name in METADATA_NAMES:
        raise TargetRefused(
            f"{host!r} is the name of a cloud metadata service: Posture does not connect there."
        )
    addresses = list((resolver or system_resolver)(host, port))
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, f"{host} resolves to no address")
    for address in addresses:
        check_address(address, port, policy, name=host)
    return addresses


# -- Endpoints as registered -----------------------------------------------------------------

# Where daemons and socket proxies put their sockets. Not /tmp or a home directory: anyone
# who can write there can plant a socket that poses as a daemon (or is another service).
SOCKET_DIRS = ("/run/", "/var/run/")
# The Engine API's sockets (a proxy's too, docker-readonly.sock), not containerd's, a
# database's or systemd's, which a unix:// host could otherwise be pointed at.
_SOCKET_NAME = re.compile(r"^[a-z0-9._-]*(?:docker|podman)[a-z0-9._-]*\.sock$")


def socket_dirs() -> tuple[str, ...]:
    from django.conf import settings

    return (*SOCKET_DIRS, str(settings.DATA_DIR).rstrip("/") + "/")


def check_socket_path(path: str) -> None:
    if posixpath.normpath(path) != path or not path.startswith("/"):
        raise TargetRefused(f"{path!r} is not a plain absolute path (no '..', '//' or '/./').")
    if not _SOCKET_NAME.match(posixpath.basename(path)):
        raise TargetRefused(
            f"{path!r} is not a Docker API socket name: Posture takes docker.sock, "
            "podman.sock or another *.sock whose name says docker or podman."
        )
    dirs = socket_dirs()
    if not path.startswith(dirs):
        raise TargetRefused(
            f"{path!r} is outside the directories Posture takes sockets from: "
            f"{', '.join(d.rstrip('/') for d in dirs)}."
        )


def check_endpoint(
    raw: str,
    *,
    allow_unix: bool,
    resolver: Resolver | None = None,
    policy: Policy | None = None,
) -> None:
    """None when an endpoint may be registered; TargetRefused (a sentence) otherwise.

    For forms and the command line: `allow_unix` is the caller's say (the command line, or
    access.can(Perm.LOCAL_ENDPOINTS) in the web). A name is resolved now for an early
    answer; when it does not resolve (yet), the connect-time check decides.
    """
    try:
        endpoint = parse_endpoint(raw)
    except ValidationError as exc:
        raise TargetRefused(" ".join(exc.messages)) from None
    if endpoint.transport is Transport.UNIX:
        if not allow_unix:
            raise TargetRefused(
                "A unix:// endpoint is a socket on the machine Posture itself runs on: only "
                "an administrator (or the command line) may register one."
            )
        check_socket_path(endpoint.socket_path)
        return
    # Not resolvable from here, now: the connect-time check decides on what it resolves to.
    with contextlib.suppress(OSError):
        resolve_checked(endpoint.host, endpoint.port, resolver=resolver, policy=policy)

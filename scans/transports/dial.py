"""TCP connections to the addresses the target policy checked, and to no others.

Every TCP transport (mutual TLS, SSH) opens its sockets here: the host's name is resolved
once, every address it resolves to is checked against POSTURE_ALLOWED_TARGETS
(hosts.targets), and the socket is connected to one of those checked addresses, never to
the name. A resolver that answers an allowed address to the check and the metadata
address to the connection (DNS rebinding) therefore has no second answer to give.
"""

from __future__ import annotations

import socket
import threading

from hosts.targets import Policy, Resolver, TargetRefused, resolve_checked
from scans.transports.errors import ErrorClass, ScanError


class Dialer:
    """How one scan reaches TCP targets: the policy (the settings' by default) and resolver.

    A name is resolved once per dialer, which is once per scan (open_api makes one): the
    pool's later connections reuse the checked answer, so a name whose answers change
    between lookups can neither reach an unchecked address nor fail half a scan.
    """

    def __init__(self, resolver: Resolver | None = None, policy: Policy | None = None) -> None:
        self.resolver = resolver
        self.policy = policy
        self._lock = threading.Lock()
        self._checked: dict[tuple[str, int], list[str]] = {}

    def addresses(self, host: str, port: int) -> list[str]:
        with self._lock:
            if (host, port) not in self._checked:
                try:
                    found = resolve_checked(host, port, resolver=self.resolver, policy=self.policy)
                except TargetRefused as exc:
                    raise ScanError(ErrorClass.TARGET_REFUSED, exc.sentence) from None
                self._checked[host, port] = found
            return self._checked[host, port]

    def connect(self, host: str, port: int, timeout: float | None) -> socket.socket:
        """A socket connected to a checked address of host; OSError when none answers."""
        last: OSError | None = None
        for address in self.addresses(host, port):
            # AI_NUMERICHOST: the address is connected to as it was checked, with no lookup.
            for family, kind, proto, _, sockaddr in socket.getaddrinfo(
                address, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
            ):
                sock = socket.socket(family, kind, proto)
                try:
                    sock.settimeout(timeout)
                    sock.connect(sockaddr)
                except OSError as exc:
                    sock.close()
                    last = exc
                    continue
                return sock
        raise last or OSError(f"{host}: no address to connect to")

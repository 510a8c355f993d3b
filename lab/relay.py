"""Byte relays for the lab's forwarders (a unix socket standing for `ssh -L`, the stack
tests' gate): one direction of a connection, copied until either side ends."""

from __future__ import annotations

import contextlib
import socket


def pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy source to sink until one ends, then shut both down, which ends the pump running
    the other way too."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

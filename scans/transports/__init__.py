"""Open a DockerAPI for a host's endpoint, whatever the transport."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import urllib3

from hosts.credentials import Credentials
from hosts.endpoints import Endpoint, Transport
from scans.transports import openssh, sessions, ssh, tls, unix
from scans.transports.base import Deadline, DockerAPI, SocketTracker
from scans.transports.dial import Dialer
from scans.transports.errors import ErrorClass, NotFound, ScanError

__all__ = [
    "Deadline",
    "Dialer",
    "DockerAPI",
    "ErrorClass",
    "Limits",
    "NotFound",
    "ScanError",
    "open_api",
]


@dataclass(frozen=True)
class Limits:
    deadline: float = 120
    connect_timeout: float = 10
    read_timeout: float = 30
    max_bytes: int = 32 * 1024 * 1024
    # One container or image inspect (or history). Parsed JSON takes ~25 bytes of Python
    # objects per byte of body, and a host is inspected on several threads at once: the
    # full cap is for listings only.
    max_object_bytes: int = 4 * 1024 * 1024
    pool_size: int = 4

    @classmethod
    def from_settings(cls) -> Limits:
        from django.conf import settings

        conf = settings.POSTURE_SCAN
        return cls(
            deadline=conf["DEADLINE"],
            connect_timeout=conf["CONNECT_TIMEOUT"],
            read_timeout=conf["READ_TIMEOUT"],
            max_bytes=conf["MAX_RESPONSE_BYTES"],
            max_object_bytes=conf["MAX_OBJECT_BYTES"],
            pool_size=conf["POOL_SIZE"],
        )


def open_api(
    endpoint: Endpoint, creds: Credentials, limits: Limits, dialer: Dialer | None = None
) -> DockerAPI:
    """`dialer`: the target policy and resolver for TCP endpoints (the settings' policy and
    the system resolver by default; one dialer per scan); unix:// endpoints were admitted
    when registered (hosts.targets.check_endpoint)."""
    dialer = dialer or Dialer()
    deadline = Deadline(limits.deadline)
    tracker = SocketTracker()
    timeout = urllib3.Timeout(connect=limits.connect_timeout, read=limits.read_timeout)
    common: dict[str, Any] = {
        "connect_timeout": limits.connect_timeout,
        "read_timeout": limits.read_timeout,
        "max_bytes": limits.max_bytes,
        "max_object_bytes": min(limits.max_object_bytes, limits.max_bytes),
    }
    if endpoint.transport is Transport.UNIX:
        pool = unix.UnixPool(endpoint.socket_path, tracker, limits.pool_size, timeout)
        return DockerAPI(pool, tracker, deadline, workers=limits.pool_size, **common)
    if endpoint.transport is Transport.TLS:
        https = tls.tls_pool(
            endpoint.host, endpoint.port, creds, tracker, limits.pool_size, timeout, dialer
        )
        return DockerAPI(https, tracker, deadline, workers=limits.pool_size, **common)
    if endpoint.transport is Transport.SSH and SSH_CLIENT == "openssh":
        return _open_openssh(endpoint, creds, limits, dialer, deadline, tracker, timeout, common)
    if endpoint.transport is Transport.SSH:
        client = ssh.connect(
            endpoint, creds, min(limits.connect_timeout, deadline.remaining()), dialer
        )
        # Each channel costs the host a login shell and a docker CLI process: measured on
        # loopback, two channels scan as fast as four (docs/BENCHMARKS.md).
        sshpool = ssh.SSHPool(
            client,
            ssh.dial_command(endpoint),
            tracker,
            2,
            timeout,
            socket=ssh.socket_path(endpoint),
        )
        return DockerAPI(
            sshpool,
            tracker,
            deadline,
            workers=2,
            ssh_client=client,
            on_close=client.close,
            diagnose=sshpool.diagnose,
            **common,
        )
    raise ScanError(ErrorClass.CONFIGURATION, f"unsupported transport {endpoint.transport}")


# Which SSH client carries ssh:// scans: OpenSSH's where the worker has one (issue 15:
# encryption in C, measured in docs/BENCHMARKS.md), paramiko otherwise. A module attribute
# so that bench/bench_scan.py can measure both in one run.
SSH_CLIENT = "openssh" if openssh.available() else "paramiko"


def _open_openssh(
    endpoint: Endpoint,
    creds: Credentials,
    limits: Limits,
    dialer: Dialer,
    deadline: Deadline,
    tracker: SocketTracker,
    timeout: urllib3.Timeout,
    common: dict[str, Any],
) -> DockerAPI:
    if not (creds.ssh_private_key and creds.ssh_host_key):
        raise ScanError(
            ErrorClass.CONFIGURATION, "ssh:// hosts need a private key and a pinned host key"
        )
    master = openssh.Master(endpoint, ssh.socket_path(endpoint))
    try:
        connect = min(limits.connect_timeout, deadline.remaining())
        master.open(creds, connect, dialer)
        tracker.add(master.close)
        forwarding = master.probe_forwarding(min(limits.read_timeout, deadline.remaining()))
        master.start_shell()  # services.run_scan reads the host over it after the API
        pool = sessions.OpenSSHPool(
            master, ssh.dial_command(endpoint), tracker, 2, timeout, streamlocal=forwarding
        )
    except BaseException:
        master.close()
        raise
    return DockerAPI(
        pool,
        tracker,
        deadline,
        workers=2,
        ssh_client=master,
        on_close=master.close,
        diagnose=pool.diagnose,
        **common,
    )

"""SSH through paramiko: one authenticated connection per host, its channels pooled as
HTTP connections. Scans use OpenSSH's own client where the worker has one
(scans.transports.openssh, issue 15); this is the fallback where it has none, and the
connection of a tcp:// host's separate SSH access for host checks (scans.hostssh).

docker-py's ssh:// transport opens a channel and a remote `docker system dial-stdio` for
every distinct URL, reads the port from ~/.ssh/config rather than the URL, and takes no key
object. Here the key and the pinned host key come from the host's record (RejectPolicy: an
unknown or changed key is refused), one paramiko Transport carries everything, and each
pooled HTTP connection is one channel, kept alive across requests.

A channel is a `direct-streamlocal@openssh.com` forward to the daemon's socket (what
`ssh -L local:/var/run/docker.sock` does): no login shell and no docker CLI process on the
host per channel, which is what made SSH scans several times slower than TLS ones. Where
the server forbids it (AllowStreamLocalForwarding no, DisableForwarding) or the socket is
elsewhere, the pool falls back to a channel running `docker system dial-stdio`.
"""

from __future__ import annotations

import shlex
import threading
import time
from typing import Any

import paramiko
import paramiko.common
import paramiko.message
import urllib3
import urllib3.connection

from hosts import keys
from hosts.credentials import Credentials
from hosts.endpoints import Endpoint
from scans.transports.base import SocketTracker, timeout_for
from scans.transports.dial import Dialer
from scans.transports.errors import ErrorClass, ScanError, dial_stdio_error


def load_private_key(text: str) -> paramiko.PKey:
    try:
        return keys.load_ssh_private_key(text)
    except ValueError as exc:
        raise ScanError(ErrorClass.CONFIGURATION, str(exc)) from None


def parse_host_key(line: str) -> paramiko.PKey:
    try:
        return keys.parse_ssh_host_key(line)
    except ValueError as exc:
        raise ScanError(ErrorClass.CONFIGURATION, f"pinned key: {exc}") from None


def known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def connect(
    endpoint: Endpoint, creds: Credentials, timeout: float, dialer: Dialer | None = None
) -> paramiko.SSHClient:
    if not (creds.ssh_private_key and creds.ssh_host_key):
        raise ScanError(
            ErrorClass.CONFIGURATION, "ssh:// hosts need a private key and a pinned host key"
        )
    pkey = load_private_key(creds.ssh_private_key)
    host_key = parse_host_key(creds.ssh_host_key)
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.get_host_keys().add(
        known_hosts_name(endpoint.host, endpoint.port), host_key.get_name(), host_key
    )
    try:
        # paramiko would resolve the name itself: it gets a socket connected to a checked
        # address instead, and still looks the pinned key up under the registered name.
        sock = (dialer or Dialer()).connect(endpoint.host, endpoint.port, timeout)
    except TimeoutError:
        raise ScanError(ErrorClass.TIMEOUT, "SSH connection timed out") from None
    except OSError as exc:
        raise ScanError(ErrorClass.UNREACHABLE, f"SSH: {exc}") from None
    try:
        client.connect(
            endpoint.host,
            port=endpoint.port,
            sock=sock,
            username=endpoint.user,
            pkey=pkey,
            allow_agent=False,
            look_for_keys=False,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
        )
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise ScanError(
            ErrorClass.HOST_KEY_MISMATCH,
            f"server sent {exc.key.get_name()} {exc.key.fingerprint}, pinned "
            f"{exc.expected_key.fingerprint}",
        ) from None
    except paramiko.AuthenticationException as exc:
        client.close()
        raise ScanError(ErrorClass.AUTH_FAILED, f"SSH: {exc}") from None
    except paramiko.SSHException as exc:
        client.close()
        if "not found in known_hosts" in str(exc):
            raise ScanError(
                ErrorClass.HOST_KEY_UNKNOWN,
                f"the server offers no key of the pinned type ({host_key.get_name()})",
            ) from None
        raise ScanError(ErrorClass.UNREACHABLE, f"SSH: {exc}") from None
    except TimeoutError:
        client.close()
        raise ScanError(ErrorClass.TIMEOUT, "SSH connection timed out") from None
    except OSError as exc:
        client.close()
        raise ScanError(ErrorClass.UNREACHABLE, f"SSH: {exc}") from None
    return client


DEFAULT_SOCKET = "/var/run/docker.sock"


def socket_path(endpoint: Endpoint) -> str:
    return endpoint.socket_path or DEFAULT_SOCKET


def open_streamlocal(transport: paramiko.Transport, path: str, timeout: float) -> paramiko.Channel:
    """Open a direct-streamlocal@openssh.com channel to a unix socket on the server.

    paramiko's open_channel() only knows the TCP forward's fields, so this is its body with
    the streamlocal ones (RFC 4254 message layout, OpenSSH PROTOCOL 2.4). It relies on
    paramiko internals; the pinned version is exercised by tests/scans/test_transports_real.
    """
    if not transport.is_active():
        raise paramiko.SSHException("SSH session not active")
    t: Any = transport  # private members below
    with t.lock:
        window = t._sanitize_window_size(None)
        packet = t._sanitize_packet_size(None)
        chanid = t._next_channel()
        m = paramiko.message.Message()
        m.add_byte(paramiko.common.cMSG_CHANNEL_OPEN)
        m.add_string("direct-streamlocal@openssh.com")
        m.add_int(chanid)
        m.add_int(window)
        m.add_int(packet)
        m.add_string(path)
        m.add_string("")  # reserved
        m.add_int(0)  # reserved
        channel = paramiko.Channel(chanid)
        t._channels.put(chanid, channel)
        t.channel_events[chanid] = event = threading.Event()
        t.channels_seen[chanid] = True
        channel._set_transport(transport)
        channel._set_window(window, packet)
    t._send_user_message(m)
    deadline = time.monotonic() + timeout
    while not event.wait(0.05):
        if not transport.is_active():
            raise transport.get_exception() or paramiko.SSHException("channel open failed")
        if time.monotonic() > deadline:
            raise paramiko.SSHException("timeout opening a streamlocal channel")
    opened = t._channels.get(chanid)
    if opened is None:
        raise transport.get_exception() or paramiko.ChannelException(2, "open failed")
    return opened


def dial_command(endpoint: Endpoint) -> str:
    if endpoint.socket_path:
        return f"docker -H {shlex.quote('unix://' + endpoint.socket_path)} system dial-stdio"
    return "docker system dial-stdio"


class ChannelConnection(urllib3.connection.HTTPConnection):
    def __init__(self, pool: SSHPool, **kwargs: Any) -> None:
        super().__init__("docker", **kwargs)
        self.ssh_pool = pool

    def connect(self) -> None:
        transport = self.ssh_pool.client.get_transport()
        if transport is None or not transport.is_active():
            raise ConnectionError("the SSH connection is closed")
        pool = self.ssh_pool
        timeout = timeout_for(self.timeout)
        channel = None
        if pool.streamlocal:
            try:
                channel = open_streamlocal(transport, pool.socket, timeout or 10.0)
            except paramiko.ChannelException:
                # Refused (forwarding off, socket elsewhere): dial-stdio from now on.
                pool.streamlocal = False
        if channel is None:
            channel = transport.open_session(timeout=timeout)
            channel.exec_command(pool.command)
        channel.settimeout(timeout)
        pool.last_channel = channel
        self.sock = channel  # type: ignore[assignment]


class SSHPool(urllib3.HTTPConnectionPool):
    def __init__(
        self,
        client: paramiko.SSHClient,
        command: str,
        tracker: SocketTracker,
        maxsize: int,
        timeout: Any,
        socket: str = DEFAULT_SOCKET,
        streamlocal: bool = True,
    ) -> None:
        super().__init__("docker", maxsize=maxsize, block=True, timeout=timeout)
        self.client = client
        self.command = command
        self.socket = socket
        self.streamlocal = streamlocal
        self.last_channel: paramiko.Channel | None = None
        tracker.add(client.close)

    def _new_conn(self) -> urllib3.connection.HTTPConnection:
        self.num_connections += 1
        return ChannelConnection(self, timeout=self.timeout.connect_timeout)

    def diagnose(self) -> ScanError | None:
        """Explain a failed request from what the remote dial-stdio wrote to stderr."""
        channel = self.last_channel
        if channel is None:
            return None
        try:
            stderr = b""
            while channel.recv_stderr_ready():
                stderr += channel.recv_stderr(4096)
        except OSError:
            return None
        return dial_stdio_error(stderr)

"""The SSH clients issue 15 weighed, each as a bare floor: the GETs scans.collect makes,
http.client over one connection, without product code (bench/bench_scan.py times them).

- openssh: OpenSSH's own client as a multiplexed master in the foreground, forwarding a
  local unix socket to the daemon's (`-L local:remote`); http.client talks to the local
  socket and ssh frames and encrypts in C. Its CPU is the bench's child's CPU, counted
  once the master is waited for.
- asyncssh: asyncssh forwarding a local unix socket (forward_local_path) from an event loop
  on a thread; framing in Python, ciphers in `cryptography`.
  OpenSSH's default cipher (ChaCha20-Poly1305), or the one named.
- paramiko-tuned: paramiko's streamlocal channel with AES-GCM (its fastest cipher; it has
  no ChaCha20-Poly1305), a 64 MiB window and 256 KiB packets.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paramiko

from lab.sshd import LabSshd
from scans.transports.ssh import open_streamlocal


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("docker")
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(self.path)
        self.sock = sock


def _wait_for(path: Path, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + 10
    while not path.exists():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"ssh exited {proc.returncode}: {proc.stderr.read()!r}")  # type: ignore[union-attr]
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} did not appear")
        time.sleep(0.002)


@contextlib.contextmanager
def openssh_forward(sshd: LabSshd, remote: str, cipher: str = "") -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="posture-bench-ssh-", dir="/dev/shm") as tmp:
        known = Path(tmp, "known_hosts")
        known.write_text(sshd.known_hosts_line + "\n")
        key = Path(tmp, "id")
        key.touch(0o600)
        key.write_text(sshd.client_private_key)
        local = Path(tmp, "docker.sock")
        argv = [
            "ssh", "-F", "/dev/null", "-M", "-N", "-S", f"{tmp}/ctl",
            "-o", "ControlPersist=no", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "IdentityAgent=none", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={known}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "ExitOnForwardFailure=yes", "-o", "KexAlgorithms=^curve25519-sha256",
            "-i", str(key), "-p", str(sshd.port),
            "-L", f"{local}:{remote}", *(["-c", cipher] if cipher else []),
            f"{sshd.user}@{sshd.host}",
        ]  # fmt: skip
        env = {"PATH": os.environ["PATH"], "LC_ALL": "C"}
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        try:
            _wait_for(local, proc)
            yield str(local)
        finally:
            proc.terminate()
            proc.wait()


def floor_openssh(
    floor: Callable[[Any], None], sshd: LabSshd, remote: str, cipher: str = ""
) -> None:
    with openssh_forward(sshd, remote, cipher) as local:
        floor(UnixHTTPConnection(local))


def floor_asyncssh(floor: Callable[[Any], None], sshd: LabSshd, remote: str) -> None:
    import asyncssh

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    with tempfile.TemporaryDirectory(prefix="posture-bench-assh-", dir="/dev/shm") as tmp:
        local = str(Path(tmp, "docker.sock"))

        async def up() -> Any:
            conn = await asyncssh.connect(
                sshd.host,
                sshd.port,
                username=sshd.user,
                client_keys=[asyncssh.import_private_key(sshd.client_private_key)],
                known_hosts=asyncssh.import_known_hosts(sshd.known_hosts_line + "\n"),
                agent_path=None,
                config=[],
                encryption_algs=["aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com"],
            )
            listener = await conn.forward_local_path(local, remote)
            return conn, listener

        conn, listener = asyncio.run_coroutine_threadsafe(up(), loop).result(10)
        try:
            floor(UnixHTTPConnection(local))
        finally:

            async def down() -> None:
                listener.close()
                conn.close()
                await conn.wait_closed()

            asyncio.run_coroutine_threadsafe(down(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()


class ChannelHTTPConnection(http.client.HTTPConnection):
    def __init__(self, dial: Callable[[], Any]) -> None:
        super().__init__("docker")
        self._dial = dial

    def connect(self) -> None:
        self.sock = self._dial()


def floor_paramiko_tuned(floor: Callable[[Any], None], sshd: LabSshd, remote: str) -> None:
    sock = socket.create_connection((sshd.host, sshd.port))
    transport = paramiko.Transport(
        sock, default_window_size=64 * 1024 * 1024, default_max_packet_size=256 * 1024
    )
    transport.get_security_options().ciphers = ("aes128-gcm@openssh.com",)
    key_type, blob = sshd.host_public_key.split()[:2]
    host_key = paramiko.PKey.from_type_string(key_type, base64.b64decode(blob))
    pkey = paramiko.Ed25519Key.from_private_key_file(str(sshd.client_key_path))
    try:
        transport.connect(hostkey=host_key, username=sshd.user, pkey=pkey)
        floor(ChannelHTTPConnection(lambda: open_streamlocal(transport, remote, 10.0)))
    finally:
        transport.close()

"""A private OpenSSH server on 127.0.0.1 for the SSH transport's tests and demo.

It has its own config, host key, client key and authorized_keys under /tmp/pst-<name>; the
machine's sshd_config and host keys are not used. Logins are root with the lab's client key
only, as the SSH transport then runs `docker -H unix://... system dial-stdio` here.

Which docker CLI a session runs: with `UsePAM no`, sshd sets PATH from its compiled-in
default, for root on Debian /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin,
and root's bash then reads ~/.bashrc (Debian's bash does so under sshd) which may prepend
more. So a bare `docker` is /usr/local/bin/docker where one is installed (Docker 28's CLI on
the dev machines) and Debian's /usr/bin/docker (20.10) otherwise. Both have dial-stdio, and
dial-stdio only relays bytes, so the CLI's own API version does not matter.
"""

from __future__ import annotations

import base64
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import paramiko

from lab.process import LabServer, live_pid, spawn

SSHD = "/usr/sbin/sshd"
# sshd refuses to start without its privilege-separation directory; Debian creates it from
# the ssh service unit, which never ran on a container-like machine.
PRIVSEP_DIR = Path("/run/sshd")


class LabSshd(LabServer):
    """One sshd under /tmp/pst-<name>, reused when an earlier run left it running.

    `streamlocal_forwarding=False` refuses direct-streamlocal@openssh.com channels, as
    hardened servers do, so a client must fall back to running `docker system dial-stdio`.
    """

    def __init__(
        self,
        name: str = "ssh",
        *,
        root: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        max_sessions: int = 10,
        streamlocal_forwarding: bool = True,
        authorized_options: str = "",
        extra_config: Sequence[str] = (),
        start_timeout: float = 10.0,
    ) -> None:
        super().__init__(name, root, host, port, start_timeout)
        self.max_sessions = max_sessions
        self.streamlocal_forwarding = streamlocal_forwarding
        # authorized_keys options for the lab's client key (`restrict,command="..."`), and
        # lines appended to sshd_config (a Match block): the least-privilege recipes' tests.
        self.authorized_options = authorized_options
        self.extra_config = tuple(extra_config)
        self.user = "root"

    # Layout -------------------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.root / "sshd_config"

    @property
    def host_key_path(self) -> Path:
        return self.root / "ssh_host_ed25519_key"

    @property
    def client_key_path(self) -> Path:
        return self.root / "id_ed25519"

    @property
    def authorized_keys_path(self) -> Path:
        return self.root / "authorized_keys"

    @property
    def pidfile(self) -> Path:
        return self.root / "sshd.pid"

    @property
    def log_path(self) -> Path:
        return self.root / "sshd.log"

    # Credentials --------------------------------------------------------------------------

    @property
    def host_public_key(self) -> str:
        """The host key as `ssh-ed25519 AAAA...`, the form a host record pins."""
        return " ".join(self.host_key_path.with_suffix(".pub").read_text().split()[:2])

    @property
    def known_hosts_line(self) -> str:
        return f"{self._known_host_name} {self.host_public_key}"

    @property
    def _known_host_name(self) -> str:
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    @property
    def client_private_key(self) -> str:
        """The client's private key in OpenSSH PEM form (unencrypted)."""
        return self.client_key_path.read_text()

    @property
    def client_public_key(self) -> str:
        return " ".join(self.client_key_path.with_suffix(".pub").read_text().split()[:2])

    @property
    def ssh_url(self) -> str:
        return f"ssh://{self.user}@{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return live_pid(self.pidfile, "sshd", str(self.config_path))

    # Life cycle (LabProcess hooks) --------------------------------------------------------

    def is_ready(self) -> bool:
        return _banner(self.host, self.port)

    def _prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for path, comment in (
            (self.host_key_path, f"posture-lab-{self.name}-host"),
            (self.client_key_path, f"posture-lab-{self.name}-client"),
        ):
            if not (path.exists() and path.with_suffix(".pub").exists()):
                path.unlink(missing_ok=True)
                subprocess.run(
                    ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path],
                    check=True,
                    capture_output=True,
                )
        options = f"{self.authorized_options} " if self.authorized_options else ""
        self.authorized_keys_path.write_text(options + self.client_public_key + "\n")
        self.authorized_keys_path.chmod(0o600)

    def _settings(self) -> dict[str, Any]:
        return {**super()._settings(), "config": self._config()}

    def _config(self) -> str:
        lines = [
            f"ListenAddress {self.host}:{self.port}",
            f"HostKey {self.host_key_path}",
            f"PidFile {self.pidfile}",
            f"AuthorizedKeysFile {self.authorized_keys_path}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            # The lab's files sit under /tmp (world-writable), which strict modes reject.
            "StrictModes no",
            "UsePAM no",
            f"MaxSessions {self.max_sessions}",
            # Tests open connections in bursts; the default 10:30:100 drops some of
            # the unauthenticated ones at random, which would make them flaky.
            "MaxStartups 100",
            "PrintMotd no",
            "PermitUserEnvironment no",
            "LogLevel VERBOSE",
        ]
        if not self.streamlocal_forwarding:
            lines.append("AllowStreamLocalForwarding no")
        return "\n".join([*lines, *self.extra_config, ""])

    def _spawn(self) -> subprocess.Popen[bytes]:
        PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.config_path.write_text(self._config())
        # -D stays in the foreground (we own the process), -e logs to stderr (our log file).
        # Stopping it stops only the listener: open sessions end when their clients leave.
        return spawn([SSHD, "-D", "-e", "-f", str(self.config_path)], self.log_path)

    # Clients ------------------------------------------------------------------------------

    def connect(self, timeout: float = 10.0) -> paramiko.SSHClient:
        """A paramiko client logged in with the lab key, the host key pinned (RejectPolicy)."""
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        key_type, blob = self.host_public_key.split()[:2]
        host_key = paramiko.PKey.from_type_string(key_type, base64.b64decode(blob))
        client.get_host_keys().add(self._known_host_name, host_key.get_name(), host_key)
        client.connect(
            self.host,
            port=self.port,
            username=self.user,
            pkey=paramiko.Ed25519Key.from_private_key_file(str(self.client_key_path)),
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            allow_agent=False,
            look_for_keys=False,
        )
        return client

    def __repr__(self) -> str:
        return f"LabSshd({self.name!r}, {self.host}:{self.port}, pid={self.pid})"


def _banner(host: str, port: int) -> bool:
    """True once the server sends its SSH identification string."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            return sock.recv(64).startswith(b"SSH-2.0-")
    except OSError:
        return False

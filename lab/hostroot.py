"""A fake Docker host behind a real sshd, for the host-level (CIS 1 and 3) checks' tests.

The host-level rules need files with wrong owners and modes; making them on this machine
would mean breaking its real /etc and /lib. Instead each HostRoot is a directory tree under
/var/lib/posture-lab/<name> laid out like a Docker host (daemon.json, unit files, TLS
material, sockets, audit rules), with a statically linked busybox as its only program, and
a private OpenSSH server on loopback that chroots the unprivileged user posture-lab-host
into it (`Match User` + `ChrootDirectory`). The collector then sees that tree as `/`.

Two layouts: "bad" breaks nearly every rule (and hides /etc/sysconfig behind mode 0700 so
that a refusal can be observed), "good" satisfies every rule it can. There is no /proc in
the chroot, so the daemon's command line and the mount table are unavailable there, as on
a host with a locked-down /proc.

Constraints this works around: sshd refuses a ChrootDirectory whose path has a component
not owned by root or writable by group or others, which rules out /tmp; the user's shell
must exist both on the machine (sshd checks it before chrooting) and in the chroot; and
with UsePAM off sshd refuses accounts whose password field is locked ("!"), so the account
gets "*" (no password, not locked). Running it needs root and busybox-static.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import socket
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lab.process import LabError
from lab.sshd import LabSshd

BUSYBOX = Path("/bin/busybox")
USER = "posture-lab-host"
CHROOT_BASE = Path("/var/lib/posture-lab")
# What the collection script runs (sh builtins aside), linked to busybox in the chroot.
APPLETS = ("sh", "stat", "od", "tr", "head", "grep", "cat", "ls", "id")
OTHER = 1000  # the uid and gid of "someone who is not root" (no name inside the chroot)
DOCKER_GID = 2375
LAYOUT_VERSION = "1"


@dataclass(frozen=True)
class Entry:
    path: str
    kind: str = "file"  # file, dir, socket, symlink, null
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    content: str = ""  # file contents, or a symlink's target


def _json(data: object) -> str:
    return json.dumps(data, indent=2) + "\n"


TLS = {
    "tlscacert": "/etc/docker/tls/ca.pem",
    "tlscert": "/etc/docker/tls/server.pem",
    "tlskey": "/etc/docker/tls/server-key.pem",
}
UNIT = """[Unit]
Description=Docker Application Container Engine (posture lab)

[Service]
Type=notify
ExecStart=/usr/bin/dockerd --containerd=/run/containerd/containerd.sock
"""
SOCKET_UNIT = """[Socket]
ListenStream=/run/docker.sock
SocketMode=0660
SocketGroup=docker
"""
AUDIT_RULES = """# posture lab: the watches CIS 1.1.3-1.1.18 ask for
-w /usr/bin/dockerd -k docker
-a always,exit -F path=/run/containerd -F perm=war -k docker
-a always,exit -F dir=/var/lib/docker -F perm=war -k docker
-w /etc/docker -k docker
-w /lib/systemd/system/docker.service -k docker
-w /run/containerd/containerd.sock -k docker
-w /lib/systemd/system/docker.socket -k docker
-w /etc/default/docker -k docker
-w /etc/containerd/config.toml -k docker
-w /etc/sysconfig/docker -k docker
-w /usr/bin/containerd -k docker
-w /usr/bin/containerd-shim-runc-v2 -k docker
-w /usr/bin/runc -k docker
"""


def _common(user: pwd.struct_passwd, docker_members: str) -> list[Entry]:
    dirs = ["/bin", "/dev", "/etc", "/lib", "/lib/systemd", "/lib/systemd/system", "/run"]
    dirs += ["/usr", "/usr/bin", "/var", "/var/lib", "/etc/docker/tls", "/etc/docker/certs.d"]
    entries = [Entry(d, "dir", 0o755) for d in dirs]
    entries += [
        Entry("/dev/null", "null", 0o666),
        Entry("/var/run", "symlink", content="../run"),
        Entry("/var/lib/docker", "dir", 0o710),
        Entry("/etc/passwd", content=f"root:x:0:0:root:/root:/bin/sh\n{USER}:x:"
              f"{user.pw_uid}:{user.pw_gid}::/:/bin/sh\n"),
        Entry("/etc/group", content=f"root:x:0:\ndocker:x:{DOCKER_GID}:{docker_members}\n"),
        Entry("/etc/docker/tls/server.pem", mode=0o444, content="certificate\n"),
        Entry("/etc/docker/certs.d/registry.example:5000", "dir", 0o755),
    ]  # fmt: skip
    for binary in ("dockerd", "containerd", "containerd-shim-runc-v2", "runc"):
        entries.append(Entry(f"/usr/bin/{binary}", mode=0o755, content="# placeholder\n"))
    return entries


def bad_layout(user: pwd.struct_passwd) -> list[Entry]:
    daemon_json: dict[str, object] = {
        "hosts": ["tcp://0.0.0.0:2375", "unix:///var/run/docker.sock"]
    }
    daemon_json.update(TLS)
    return [
        *_common(user, "alice,bob"),
        Entry("/etc/docker", "dir", 0o777, OTHER, OTHER),
        Entry("/etc/docker/daemon.json", mode=0o666, uid=OTHER, gid=OTHER,
              content=_json({**daemon_json, "log-level": "debug"})),
        Entry("/etc/docker/tls/ca.pem", mode=0o644, uid=OTHER, gid=OTHER, content="ca\n"),
        Entry("/etc/docker/tls/server-key.pem", mode=0o644, content="key\n"),
        Entry("/etc/docker/certs.d/registry.example:5000/ca.crt", mode=0o666, uid=OTHER,
              gid=OTHER, content="ca\n"),
        Entry("/etc/docker/certs.d/locked.example", "dir", 0o700),
        Entry("/etc/docker/certs.d/locked.example/ca.crt", mode=0o444, content="ca\n"),
        Entry("/lib/systemd/system/docker.service", mode=0o666, uid=OTHER, gid=OTHER,
              content=UNIT),
        Entry("/lib/systemd/system/docker.socket", mode=0o664, content=SOCKET_UNIT),
        Entry("/etc/default", "dir", 0o755),
        Entry("/etc/default/docker", mode=0o646, gid=OTHER, content="# DOCKER_OPTS=\n"),
        # Refused to the SSH user: stat of /etc/sysconfig/docker fails with EACCES.
        Entry("/etc/sysconfig", "dir", 0o700),
        Entry("/etc/sysconfig/docker", content="OPTIONS=\n"),
        Entry("/run/docker.sock", "socket", 0o666, OTHER, OTHER),
        Entry("/run/containerd", "dir", 0o711),
        Entry("/run/containerd/containerd.sock", "socket", 0o666),
    ]  # fmt: skip


def good_layout(user: pwd.struct_passwd) -> list[Entry]:
    daemon_json = {
        "hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"],
        "tlsverify": True,
        **TLS,
        "icc": False,
        "log-level": "info",
        "no-new-privileges": True,
        "userland-proxy": False,
        "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 64000, "Hard": 64000}},
    }
    return [
        *_common(user, ""),
        Entry("/etc/docker", "dir", 0o755),
        Entry("/etc/docker/daemon.json", content=_json(daemon_json)),
        Entry("/etc/docker/tls/ca.pem", mode=0o444, content="ca\n"),
        Entry("/etc/docker/tls/server-key.pem", mode=0o400, content="key\n"),
        Entry("/etc/docker/certs.d/registry.example:5000/ca.crt", mode=0o444, content="ca\n"),
        Entry("/lib/systemd/system/docker.service", content=UNIT),
        Entry("/lib/systemd/system/docker.socket", content=SOCKET_UNIT),
        Entry("/etc/default", "dir", 0o755),
        Entry("/etc/default/docker", content="# DOCKER_OPTS=\n"),
        Entry("/etc/containerd", "dir", 0o755),
        Entry("/etc/containerd/config.toml", content="version = 2\n"),
        Entry("/etc/audit", "dir", 0o755),
        Entry("/etc/audit/rules.d", "dir", 0o755),
        Entry("/etc/audit/rules.d/docker.rules", content=AUDIT_RULES),
        Entry("/run/docker.sock", "socket", 0o660, 0, DOCKER_GID),
        Entry("/run/containerd", "dir", 0o711),
        Entry("/run/containerd/containerd.sock", "socket", 0o660),
    ]


LAYOUTS = {"bad": bad_layout, "good": good_layout}


def ensure_user() -> pwd.struct_passwd:
    """The unprivileged system account the chroot is entered as; created once."""
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        pass
    run = ["useradd", "--system", "--no-create-home", "--home-dir", "/", "--shell", "/bin/sh"]
    for argv in ([*run, "--user-group", USER], ["usermod", "--password", "*", USER]):
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0 and "already exists" not in done.stderr:
            raise LabError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return pwd.getpwnam(USER)


def check_busybox() -> None:
    if not BUSYBOX.exists():
        raise LabError(f"{BUSYBOX} is missing: apt-get install busybox-static")
    ldd = subprocess.run(["ldd", str(BUSYBOX)], capture_output=True, text=True)
    if "not a dynamic executable" not in ldd.stdout + ldd.stderr:
        raise LabError(f"{BUSYBOX} is dynamically linked: install busybox-static instead")


def build_tree(root: Path, entries: list[Entry]) -> None:
    """Lay `entries` out under `root`, which becomes the chroot's "/" (root-owned, 0755)."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(mode=0o755, parents=True)
    os.chown(root, 0, 0)
    (root / "bin").mkdir(mode=0o755)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    for applet in APPLETS:
        (root / "bin" / applet).symlink_to("busybox")
    for entry in entries:
        target = root / entry.path.lstrip("/")
        target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        if entry.kind == "dir":
            target.mkdir(exist_ok=True)
        elif entry.kind == "symlink":
            target.symlink_to(entry.content)
            continue
        elif entry.kind == "null":
            os.mknod(target, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # as the real /dev/null
        elif entry.kind == "socket":
            target.unlink(missing_ok=True)
            with socket.socket(socket.AF_UNIX) as sock:  # the socket file outlives the socket
                sock.bind(str(target))
        else:
            target.write_text(entry.content)
        os.chown(target, entry.uid, entry.gid)
        os.chmod(target, entry.mode)


class HostRoot(LabSshd):
    """One fake host (a layout) and its sshd, under /tmp/pst-<name> and CHROOT_BASE/<name>."""

    def __init__(
        self, name: str, layout: str, *, host: str = "127.0.0.1", start_timeout: float = 10
    ) -> None:
        if layout not in LAYOUTS:
            raise LabError(f"unknown host layout {layout!r}: one of {sorted(LAYOUTS)}")
        super().__init__(name, host=host, start_timeout=start_timeout)
        self.layout = layout
        self.chroot = CHROOT_BASE / name
        self.user = USER

    def _prepare(self) -> None:
        if os.geteuid() != 0:
            raise LabError("HostRoot needs root: it creates a user, a chroot and an sshd")
        check_busybox()
        user = ensure_user()
        entries = LAYOUTS[self.layout](user)
        # The tree is rebuilt when its layout changes, under a running sshd if need be: the
        # sshd only names the chroot's path, so it is still adopted.
        digest = hashlib.sha256(repr((LAYOUT_VERSION, entries)).encode()).hexdigest()
        recorded = self.root / "tree.sha256"
        if not (
            recorded.is_file()
            and recorded.read_text() == digest
            and (self.chroot / "bin" / "busybox").exists()
        ):
            build_tree(self.chroot, entries)
            self.root.mkdir(parents=True, exist_ok=True)
            recorded.write_text(digest)
        super()._prepare()
        # sshd reads a user's authorized keys with that user's rights.
        os.chown(self.authorized_keys_path, user.pw_uid, user.pw_gid)

    def _config(self) -> str:
        return "\n".join(
            [
                f"ListenAddress {self.host}:{self.port}",
                f"HostKey {self.host_key_path}",
                f"PidFile {self.pidfile}",
                f"AuthorizedKeysFile {self.authorized_keys_path}",
                f"AllowUsers {USER}",
                "PermitRootLogin no",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "StrictModes no",  # the keys live under /tmp
                "UsePAM no",
                "DisableForwarding yes",
                "PrintMotd no",
                "PrintLastLog no",
                "MaxStartups 100",
                "LogLevel VERBOSE",
                f"Match User {USER}",
                f"    ChrootDirectory {self.chroot}",
                "",
            ]
        )

    def __repr__(self) -> str:
        return f"HostRoot({self.name!r}, {self.layout}, {self.host}:{self.port})"

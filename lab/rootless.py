"""Rootless engines for the lab: a dedicated unprivileged user, and rootless dockerd as that user.

OWASP cheat sheet rule 11 (DMN-ROOTLESS) is only meaningful if Posture has been pointed at a
real rootless daemon. Root prepares what a rootless daemon cannot do for itself: the user,
its subordinate id ranges (/etc/subuid, /etc/subgid, read by the setuid newuidmap and
newgidmap of Debian's uidmap package) and directories it owns. Everything after that runs as
the user. Root can still connect to the daemon's socket (root bypasses unix socket
permissions), so Posture scans it like any other unix endpoint.

Rootless dockerd runs through Docker's own dockerd-rootless.sh (shipped by Debian's docker.io
under /usr/share/docker.io/contrib) and RootlessKit (Debian's rootlesskit). The lab asks
RootlessKit for the host network namespace and no port driver: with --bridge=none the daemon
needs neither slirp4netns nor port forwarding, and it never touches the host's networking.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lab.daemon import LabDaemon
from lab.process import SYSTEM_PATH, LabError, locked

LAB_USER = "posture-lab-rootless"
# Where new subordinate ranges start when the files hold none above it (Debian's useradd
# starts at 100000 for ordinary users), and how many ids a range holds.
SUBID_FLOOR = 100_000
SUBID_COUNT = 65_536
ROOTLESS_SCRIPT = Path("/usr/share/docker.io/contrib/dockerd-rootless.sh")
# useradd, usermod and the subid files are shared by every lab process on the machine.
_USERS_LOCK = Path("/tmp/pst-lab-users")


@dataclass(frozen=True)
class LabUser:
    name: str
    uid: int
    gid: int

    def own(self, *paths: Path, mode: int = 0o755) -> None:
        """Create `paths` (and parents) and hand them to the user."""
        for path in paths:
            path.mkdir(parents=True, exist_ok=True)
            os.chown(path, self.uid, self.gid)
            path.chmod(mode)


def ensure_user(name: str = LAB_USER) -> LabUser:
    """The lab's unprivileged system user, created with subordinate id ranges if missing."""
    if os.geteuid() != 0:
        raise LabError("rootless lab engines are set up by root (useradd, /etc/subuid)")
    for tool in ("newuidmap", "newgidmap"):
        if shutil.which(tool, path=SYSTEM_PATH) is None:
            raise LabError(f"{tool} is missing: install Debian's uidmap package")
    with locked(_USERS_LOCK):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            _run(
                "useradd",
                "--system",
                "--user-group",
                "--home-dir",
                f"/var/lib/{name}",
                "--create-home",
                "--shell",
                "/usr/sbin/nologin",
                name,
            )
            entry = pwd.getpwnam(name)
        flags = []
        for kind in ("uid", "gid"):
            ranges = _subid_ranges(Path(f"/etc/sub{kind}"))
            if not any(owner in (name, str(entry.pw_uid)) for owner, _, _ in ranges):
                first = max([SUBID_FLOOR, *(start + count for _, start, count in ranges)])
                flags += [f"--add-sub{kind}s", f"{first}-{first + SUBID_COUNT - 1}"]
        if flags:
            _run("usermod", *flags, name)
    return LabUser(name, entry.pw_uid, entry.pw_gid)


def _subid_ranges(path: Path) -> list[tuple[str, int, int]]:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    ranges = []
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            ranges.append((parts[0], int(parts[1]), int(parts[2])))
    return ranges


def _run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")


class LabRootlessDocker(LabDaemon):
    """A rootless dockerd under /tmp/pst-<name>, run by the lab user through RootlessKit.

    Everything LabDaemon does (reuse, stop, killing stray containers) applies unchanged:
    dockerd writes its pidfile with its real pid, since RootlessKit adds user and mount
    namespaces but no PID namespace.
    """

    def __init__(self, name: str, *, user: str = LAB_USER, start_timeout: float = 30.0) -> None:
        super().__init__(name, start_timeout=start_timeout)
        self.user_name = user
        self._user: LabUser | None = None

    @property
    def runtime_dir(self) -> Path:
        return self.root / "xdg"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def user(self) -> LabUser:
        if self._user is None:
            self._user = ensure_user(self.user_name)
        return self._user

    def _prepare(self) -> None:
        if shutil.which("rootlesskit", path=SYSTEM_PATH) is None:
            raise LabError("rootlesskit is missing: install Debian's rootlesskit package")
        if not ROOTLESS_SCRIPT.is_file():
            raise LabError(f"{ROOTLESS_SCRIPT} is missing: install Debian's docker.io package")
        user = self.user
        # dockerd writes its socket and pidfile here, so the user must own the directory.
        user.own(self.root)
        user.own(self.exec_root, self.data_root, self.home)
        user.own(self.runtime_dir, mode=0o700)

    def _argv(self, port: int | None) -> list[str]:
        # setpriv drops to the user and execs, so the spawned pid is RootlessKit's own and
        # the whole chain (setpriv, env, sh, rootlesskit) is one process, not a parent waiting.
        dockerd = super()._argv(port)
        user = self.user
        return [
            "setpriv",
            f"--reuid={user.uid}",
            f"--regid={user.gid}",
            "--clear-groups",
            "env",
            "-i",
            f"PATH={SYSTEM_PATH}",
            f"HOME={self.home}",
            f"XDG_RUNTIME_DIR={self.runtime_dir}",
            # Host network namespace and no port driver: see the module docstring.
            "DOCKERD_ROOTLESS_ROOTLESSKIT_NET=host",
            "DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER=none",
            f"DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS=--state-dir={self.root / 'rk'}",
            "sh",
            str(ROOTLESS_SCRIPT),
            *dockerd[1:],
        ]

    def __repr__(self) -> str:
        return f"LabRootlessDocker({self.name!r}, user={self.user_name!r}, pid={self.pid})"

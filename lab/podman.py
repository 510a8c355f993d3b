"""A private Podman API service: `podman system service` on a unix socket, rootful or rootless.

Podman has no daemon of its own; the service answers Docker's Engine API (the "compat" API)
from the same storage the podman CLI uses, which is how Posture scans a Podman host. Each lab
service gets its own storage (vfs: no overlay or fuse-overlayfs needed, rootless included),
cgroupfs (no systemd in the lab) and file events (no journald), so it shares nothing with
the machine's own Podman.

Containers are made with the podman CLI on the same storage, as a Podman user would make
them, and only created, never started: what Posture scores is their inspect data, and
starting fails on the lab VM anyway ("error setting rlimit type 7": Podman asks for
RLIMIT_NOFILE 1048576, above the VM's hard limit, and root there lacks CAP_SYS_RESOURCE).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import docker
import docker.errors

from lab.daemon import API_VERSION
from lab.images import DEFAULT_TAG, rootfs_tar
from lab.process import (
    SYSTEM_PATH,
    LabError,
    LabProcess,
    live_pid,
    pids_matching,
    spawn,
    terminate,
    unmount_under,
)
from lab.rootless import LAB_USER, LabUser, ensure_user

_SUN_PATH_MAX = 107
# Containers made by create() carry their options here, so a second run reuses them only
# when they were made the same way.
_OPTIONS_LABEL = "posture.lab.options"


class LabPodman(LabProcess):
    """One `podman system service` under /tmp/pst-<name>, reused when an earlier run left it."""

    def __init__(
        self,
        name: str,
        *,
        rootless: bool = False,
        user: str = LAB_USER,
        containers_conf: str = "",
        registries_conf: str = "",
        extra_args: Sequence[str] = (),
        start_timeout: float = 20.0,
    ) -> None:
        super().__init__(name, None, start_timeout)
        self.rootless = rootless
        self.user_name = user
        # Replace the machine's containers.conf / registries.conf when given (a lab host with
        # a deliberately weak configuration); otherwise the installed defaults apply, as they
        # would on a real host.
        self.containers_conf = containers_conf
        self.registries_conf = registries_conf
        self.extra_args = tuple(extra_args)  # global podman flags for the service only
        self._user: LabUser | None = None
        if len(str(self.socket_path)) > _SUN_PATH_MAX:
            raise LabError(f"socket path {self.socket_path} is too long for a unix socket")

    # Layout -------------------------------------------------------------------------------

    @property
    def socket_path(self) -> Path:
        return self.root / "podman.sock"

    @property
    def unix_url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def graph_root(self) -> Path:
        return self.root / "storage"

    @property
    def run_root(self) -> Path:
        return self.root / "run"

    @property
    def runtime_dir(self) -> Path:
        return self.root / "xdg"  # rootless only: XDG_RUNTIME_DIR, owned by the user

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def pidfile(self) -> Path:
        return self.root / "podman.pid"

    @property
    def log_path(self) -> Path:
        return self.root / "podman.log"

    @property
    def user(self) -> LabUser | None:
        if not self.rootless:
            return None
        if self._user is None:
            self._user = ensure_user(self.user_name)
        return self._user

    @property
    def pid(self) -> int | None:
        return live_pid(self.pidfile, "podman", "system service", str(self.socket_path))

    # Life cycle (LabProcess hooks) --------------------------------------------------------

    def is_ready(self) -> bool:
        return self.ping()

    def _prepare(self) -> None:
        if shutil.which("podman", path=SYSTEM_PATH) is None:
            raise LabError("podman is missing: install Debian's podman package")
        user = self.user
        if user is not None:
            # The service creates its socket here, so the user must own the directory.
            user.own(self.root)
            user.own(self.graph_root, self.run_root, self.home)
            user.own(self.runtime_dir, mode=0o700)
        else:
            for directory in (self.graph_root, self.run_root, self.home):
                directory.mkdir(parents=True, exist_ok=True)
        # Written as root and only read by podman, so 0644 serves both modes.
        for path, text in (
            (self.root / "storage.conf", self._storage_conf()),
            (self.root / "containers.conf", self.containers_conf),
            (self.root / "registries.conf", self.registries_conf),
        ):
            if text:
                path.write_text(text)
                path.chmod(0o644)

    def _storage_conf(self) -> str:
        return (
            "[storage]\n"
            'driver = "vfs"\n'
            f'runroot = "{self.run_root}"\n'
            f'graphroot = "{self.graph_root}"\n'
        )

    def _env(self) -> dict[str, str]:
        env = {
            "PATH": SYSTEM_PATH,
            "HOME": str(self.home),
            "CONTAINERS_STORAGE_CONF": str(self.root / "storage.conf"),
        }
        if self.containers_conf:
            env["CONTAINERS_CONF"] = str(self.root / "containers.conf")
        if self.registries_conf:
            env["CONTAINERS_REGISTRIES_CONF"] = str(self.root / "registries.conf")
        if self.rootless:
            env["XDG_RUNTIME_DIR"] = str(self.runtime_dir)
        return env

    def _global_args(self) -> list[str]:
        return [
            "podman",
            f"--root={self.graph_root}",
            f"--runroot={self.run_root}",
            "--storage-driver=vfs",
            "--cgroup-manager=cgroupfs",
            "--events-backend=file",
        ]

    def _argv(self) -> list[str]:
        # --time=0: the service never exits on idle (its default is 5 s without clients).
        return [
            *self._global_args(),
            *self.extra_args,
            "system",
            "service",
            "--time=0",
            f"unix://{self.socket_path}",
        ]

    def _settings(self) -> dict[str, Any]:
        return {"config": self._config()}

    def _config(self) -> dict[str, object]:
        digest = hashlib.sha256(
            "\0".join((self.containers_conf, self.registries_conf)).encode()
        ).hexdigest()
        user = self.user_name if self.rootless else ""
        return {"argv": self._argv(), "user": user, "conf": digest}

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.socket_path.unlink(missing_ok=True)
        user = self.user
        process = spawn(
            self._argv(),
            self.log_path,
            env=self._env(),
            user=user.name if user else None,
            cwd=self.root,
        )
        # podman system service writes no pidfile; Popen's pid is podman's own (no wrapper).
        self.pidfile.write_text(f"{process.pid}\n")
        return process

    def _stopped(self) -> None:
        # Rootless, the podman we spawned re-executes itself inside its user namespace as a
        # child, which outlives the parent's SIGTERM: whatever still serves this socket is ours.
        for pid in pids_matching("system service", self.unix_url):
            terminate(pid, timeout=5)
        if self.rootless:
            # Rootless podman keeps its user namespace alive in a "pause" process that
            # outlives the service; the next service would join that one instead.
            pause = live_pid(self.runtime_dir / "libpod" / "tmp" / "pause.pid", "podman")
            if pause is not None:
                terminate(pause, timeout=5)
        else:
            unmount_under(self.root)

    # Clients ------------------------------------------------------------------------------

    def ping(self) -> bool:
        # requests' connection errors are OSErrors too.
        try:
            with docker.APIClient(base_url=self.unix_url, version=API_VERSION, timeout=2) as api:
                return bool(api.ping())
        except (docker.errors.DockerException, OSError):
            return False

    def api_client(self, timeout: int = 60) -> docker.APIClient:
        """A docker-py low-level client on the compat API (as root: any socket is reachable)."""
        return docker.APIClient(base_url=self.unix_url, version=API_VERSION, timeout=timeout)

    def podman(self, *args: str, stdin: bytes | None = None, timeout: float = 60) -> str:
        """Run the podman CLI on this service's storage, as the service's user; its stdout."""
        user = self.user
        done = subprocess.run(
            [*self._global_args(), *args],
            input=stdin,
            capture_output=True,
            env=self._env(),
            cwd=self.root,
            user=user.name if user else None,
            group=user.name if user else None,
            extra_groups=[] if user else None,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise LabError(
                f"podman {' '.join(args)} failed ({done.returncode}): "
                + done.stderr.decode(errors="replace").strip()[-2000:]
            )
        return done.stdout.decode(errors="replace").strip()

    def import_image(self, tag: str = DEFAULT_TAG) -> str:
        """Import the lab's busybox rootfs under `tag` unless present; return the image id."""
        reference = local_reference(tag)
        with contextlib.suppress(LabError):
            return self.podman("image", "inspect", "--format", "{{.Id}}", reference)
        self.podman("import", "--change", 'CMD ["sh"]', "-", reference, stdin=rootfs_tar())
        return self.podman("image", "inspect", "--format", "{{.Id}}", reference)

    def create(
        self,
        name: str,
        *options: str,
        image: str = DEFAULT_TAG,
        command: Sequence[str] = ("sleep", "3600"),
    ) -> str:
        """`podman create --name NAME OPTIONS IMAGE COMMAND`, reusing an identical container."""
        recorded = json.dumps([list(options), image, list(command)])
        with contextlib.suppress(LabError):
            found = json.loads(self.podman("container", "inspect", name))[0]
            if (found.get("Config", {}).get("Labels") or {}).get(_OPTIONS_LABEL) == recorded:
                return str(found["Id"])
            self.podman("rm", "--force", "--time=0", name)
        return self.podman(
            "create",
            "--name",
            name,
            "--label",
            f"{_OPTIONS_LABEL}={recorded}",
            *options,
            local_reference(image),
            *command,
        )

    def info(self) -> dict[str, object]:
        with self.api_client() as client:
            return dict(client.info())

    def __repr__(self) -> str:
        mode = "rootless" if self.rootless else "rootful"
        return f"LabPodman({self.name!r}, {mode}, root={str(self.root)!r}, pid={self.pid})"


def local_reference(tag: str) -> str:
    """`tag` as Podman names a local image: localhost/ unless the name starts with a registry.

    Podman stores imported and built images under localhost/, and resolving a name without
    a registry could otherwise go to the configured search registries.
    """
    first, _, rest = tag.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return tag
    return f"localhost/{tag}"

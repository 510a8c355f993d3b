"""The production stack, docker-compose.yml as it ships, started for real on a test daemon.

Nothing comes from a registry: the base images are Debian root filesystems built with
mmdebstrap (lab/images_debian.py), the Posture image is built from the Dockerfile on the
Python one, with the locked wheels downloaded once on the host and handed to the build as an
image (no network inside `docker build`), and docker-compose (Debian's 1.29) starts the
services with tests/system/stack/compose.stack.yml over the production file.

Where it runs: a private dockerd (data-root, exec-root, socket under POSTURE_DATA_DIR/stack,
kept between runs as the image cache) whose containers sit on two bridges compose creates,
with private subnets and IP forwarding off on both, so they reach each other and this
machine's addresses on those bridges, and nothing beyond. Web is published on 127.0.0.1.
The fleet is one lab daemon that listens, with mutual TLS, on the frontend bridge's gateway
address: the workers reach it as they would reach a fleet host over the network.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.types
import requests
from docker.utils.build import PatternMatcher

from lab import images_debian
from lab.daemon import LabDaemon
from lab.pki import Pki, make_pki
from lab.process import SYSTEM_PATH, LabError, free_port, wait_until
from tests.system.stack.gate import Gate
from tests.system.stack.stack_secrets import write_secrets

ROOT = Path(__file__).resolve().parents[3]
OVERRIDE = Path(__file__).with_name("compose.stack.yml")
PROJECT = "posturestack"


def stack_dir() -> Path:
    return Path(os.environ.get("POSTURE_DATA_DIR", "/tmp/pst-test/data")) / "stack"


def _digest(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


class Stack:
    """Build, start, drive and tear down the stack. Fault tests use the same object."""

    def __init__(self, directory: Path | None = None) -> None:
        self.dir = directory or stack_dir()
        self.project = self.dir / "project"
        self.daemon = LabDaemon(
            "stack",
            root=self.dir / "d",
            # Docker must not turn IP forwarding on (it stays as the machine has it); the
            # bridges' own switch is turned off by _no_forwarding.
            extra_args=["--ip-forward=false"],
            start_timeout=60,
        )
        self.target: LabDaemon | None = None
        self.pki: Pki | None = None
        # Private to this data dir, so two suites on one machine do not collide.
        tag = _digest(str(self.dir))
        self.bridge = f"pst{tag[:6]}"
        self.net = f"10.213.{int(tag[6:8], 16)}"
        self.gateway = f"{self.net}.129"
        self.web_port = 0
        self.target_port = 0
        # The fault tests' way to the target: a forwarder that can hold a scan in flight.
        self.gate_port = 0
        self.gate: Gate | None = None
        self.images: dict[str, str] = {}
        self.timings: dict[str, float] = {}

    # Images -------------------------------------------------------------------------------

    def client(self, timeout: int = 600) -> docker.APIClient:
        return self.daemon.api_client(timeout=timeout)

    def build(self) -> None:
        """Base images, wheels, the Posture image: each reused when its inputs are unchanged."""
        with self._timed("base_images"), self.client() as client:
            built = images_debian.ensure_images(client, self.dir / "work")
            self.images = dict(built.tags)
        self._stage_project()
        with self._timed("wheels"), self.client() as client:
            wheels = self._wheels_image(client)
        with self._timed("posture_image"), self.client() as client:
            self.images["posture"] = self._posture_image(client, wheels)

    @contextlib.contextmanager
    def _timed(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        yield
        self.timings[name] = round(time.monotonic() - started, 1)

    def _wheels_image(self, client: docker.APIClient) -> str:
        # The wheels are fetched on the host (pip checks every file against the lock's
        # sha256) and reach the build inside an image: the build itself has no network
        # (network_mode none), so it is reproducible and cannot fetch anything unlocked.
        lock = (self.project / "requirements.lock").read_bytes()
        tag = f"posture-stack/wheels:{_digest(lock, self.images['python'])}"
        if _exists(client, tag):
            return tag
        wheels = self.dir / "wheels" / _digest(lock)
        if not (wheels / ".complete").exists():
            wheels.mkdir(parents=True, exist_ok=True)
            _run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
                + ["--require-hashes", "--only-binary", ":all:", "--dest", str(wheels)]
                + ["-r", str(self.project / "requirements.lock")],
                env={**os.environ},
                timeout=600,
            )
            (wheels / ".complete").write_text("")
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as tar:
            dockerfile = f"FROM {self.images['python']}\nCOPY . /wheels/\n".encode()
            info = tarfile.TarInfo("Dockerfile")
            info.size = len(dockerfile)
            tar.addfile(info, io.BytesIO(dockerfile))
            for path in sorted(wheels.glob("*.whl")):
                tar.add(path, arcname=path.name)
        context.seek(0)
        _build(client, tag, fileobj=context, custom_context=True)
        return tag

    def _stage_project(self) -> None:
        """A checkout as an operator has it: the product files, the compose file and a
        secrets/ folder beside them (kept across runs)."""
        product = self.project
        keep = product / "secrets"
        if product.exists():
            for entry in product.iterdir():
                if entry != keep:
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        for relative in _context_files(ROOT) + ["docker-compose.yml", ".dockerignore"]:
            target = product / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / relative, target)
        write_secrets(keep)

    def _posture_image(self, client: docker.APIClient, wheels: str) -> str:
        # Keyed by what docker would send (the context as .dockerignore lets it through,
        # from the staged checkout that has secrets/ in it) and the two base images.
        files = _context_files(self.project)
        digest = hashlib.sha256()
        for relative in files:
            digest.update(relative.encode() + b"\0" + (self.project / relative).read_bytes())
        tag = f"posture-stack/posture:{_digest(digest.hexdigest(), self.images['python'], wheels)}"
        if not _exists(client, tag):
            _build(
                client,
                tag,
                path=str(self.project),
                buildargs={"PYTHON_IMAGE": self.images["python"], "PACKAGES_IMAGE": wheels},
            )
        return tag

    # Compose ------------------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        return {
            "PATH": SYSTEM_PATH,
            "HOME": str(self.dir),
            "LANG": "C.UTF-8",
            "DOCKER_HOST": self.daemon.unix_url,
            # exec through docker-py, not the docker CLI (which may be newer than the daemon).
            "COMPOSE_INTERACTIVE_NO_CLI": "1",
            "STACK_POSTURE_IMAGE": self.images["posture"],
            "STACK_REDIS_IMAGE": self.images["redis"],
            "STACK_POSTGRES_IMAGE": self.images["postgres"],
            "STACK_BRIDGE": self.bridge,
            "STACK_NET": self.net,
            "STACK_TARGETS": (
                f"{self.gateway}/32:{self.target_port or 2376},{self.gate_port or 2377}"
            ),
            "POSTURE_WEB_PORT": str(self.web_port or 8000),
            # Plain http on loopback, as docker-compose.yml's header shows for a first try;
            # the HTTPS defaults are checked by tests/system/deploy/test_check_deploy.py.
            "POSTURE_SSL_REDIRECT": "false",
            "POSTURE_SECURE_COOKIES": "false",
            "POSTURE_HSTS_SECONDS": "0",
            "POSTURE_HSTS_INCLUDE_SUBDOMAINS": "false",
            "POSTURE_HSTS_PRELOAD": "false",
        }

    def compose(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        argv = ["docker-compose", "--ansi", "never", "-p", PROJECT]
        argv += ["--project-directory", str(self.project)]
        argv += ["-f", str(self.project / "docker-compose.yml"), "-f", str(OVERRIDE), *args]
        return _run(argv, env=self.environment(), timeout=timeout, check=check)

    def exec(self, service: str, *argv: str, check: bool = True) -> tuple[int, str]:
        """Run argv in the service's (first) container as its user: (exit code, output).
        Through the Engine API: `compose exec` costs a Python start-up per call."""
        (container, *_) = self.container_ids(service)
        with self.client(timeout=300) as client:
            created = client.exec_create(container, list(argv))
            output = client.exec_start(created["Id"]).decode(errors="replace")
            code = int(client.exec_inspect(created["Id"])["ExitCode"])
        if check and code != 0:
            raise LabError(f"{service}: {' '.join(argv)}: exit {code}\n{output[-3000:]}")
        return code, output

    def up(self) -> None:
        self.web_port = free_port()
        self.target_port = free_port()
        self.gate_port = free_port()
        with self._timed("down_leftovers"):
            self.compose("down", "-v", "--remove-orphans", "-t", "2", check=False)
        with self._timed("up"):
            self._create_networks()
            self._no_forwarding()
            self._start_target()
            self.compose("up", "--no-build", "-d", timeout=600)
        with self._timed("web_healthy"):
            if not wait_until(lambda: self.health("web") == "healthy", timeout=120, interval=0.5):
                raise LabError(f"web never became healthy:\n{self.logs('web', 'migrate')}")

    def down(self) -> None:
        """Containers, networks and volumes go; the images stay (the next run's cache)."""
        with self._timed("down"):
            # Killed, not stopped: the data goes with the volumes anyway.
            self.compose("down", "-v", "--remove-orphans", "-t", "0", check=False)
        if self.gate is not None:
            self.gate.stop()
        if self.target is not None:
            self.target.stop()

    def _create_networks(self) -> None:
        # Made here, as compose would make them (name, labels, options: compose adopts a
        # network whose settings match compose.stack.yml's), so that forwarding is off on
        # their bridges before any container starts. (`up --no-start` would create them,
        # but Compose 1.29 then waits forever on the migrate service's completion.)
        with self.client(timeout=30) as client:
            for name, suffix, subnet, internal in (
                ("backend", "b", f"{self.net}.0/25", True),
                ("frontend", "f", f"{self.net}.128/25", False),
            ):
                client.create_network(
                    f"{PROJECT}_{name}",
                    driver="bridge",
                    options={"com.docker.network.bridge.name": f"{self.bridge}{suffix}"},
                    ipam=docker.types.IPAMConfig(
                        pool_configs=[docker.types.IPAMPool(subnet=subnet)]
                    ),
                    internal=internal,
                    labels={
                        "com.docker.compose.project": PROJECT,
                        "com.docker.compose.network": name,
                        "com.docker.compose.version": "1.29.2",
                    },
                    check_duplicate=True,
                )

    def _no_forwarding(self) -> None:
        for suffix in ("b", "f"):
            Path(f"/proc/sys/net/ipv4/conf/{self.bridge}{suffix}/forwarding").write_text("0\n")

    def forwarding(self) -> dict[str, str]:
        return {
            name: Path(f"/proc/sys/net/ipv4/conf/{name}/forwarding").read_text().strip()
            for name in (f"{self.bridge}b", f"{self.bridge}f")
        }

    def _start_target(self) -> None:
        # The gateway address exists once compose has created the frontend bridge.
        self.pki = make_pki(self.dir / "pki", ips=("127.0.0.1", self.gateway))
        self.target = LabDaemon(
            "stack-target",
            root=self.dir / "t",
            tls=self.pki,
            tcp_port=self.target_port,
            extra_args=[f"--host=tcp://{self.gateway}:{self.target_port}"],
        )
        self.target.start()
        gateway = (self.gateway, self.target_port)
        self.gate = Gate((self.gateway, self.gate_port), gateway).start()

    # Looking at it ------------------------------------------------------------------------

    def container_ids(self, service: str) -> list[str]:
        labels = [f"com.docker.compose.project={PROJECT}", f"com.docker.compose.service={service}"]
        with self.client(timeout=30) as client:
            found = client.containers(all=True, filters={"label": labels})
        return [str(c["Id"]) for c in found]

    def inspect(self, service: str) -> list[dict[str, Any]]:
        with self.client(timeout=30) as client:
            return [client.inspect_container(cid) for cid in self.container_ids(service)]

    def health(self, service: str) -> str:
        states = [c["State"].get("Health", {}).get("Status", "") for c in self.inspect(service)]
        return states[0] if len(states) == 1 else ",".join(states)

    def logs(self, *services: str, tail: int = 40) -> str:
        argv = ("logs", "--no-color", "--tail", str(tail), *services)
        return self.compose(*argv, check=False).stdout

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def session(self) -> requests.Session:
        session = requests.Session()
        # Straight to 127.0.0.1: no proxy from the environment.
        session.trust_env = False
        return session

    def admin_password(self) -> str:
        """ensure_admin writes the password to a 0600 file in the data volume; the
        operator reads it from there (docs/OPERATIONS.md)."""
        self.manage("ensure_admin", "--password-file", "/data/admin")
        return self.exec("web", "cat", "/data/admin")[1].strip()

    def login(self, username: str = "admin", password: str | None = None) -> requests.Session:
        session = self.session()
        password = password if password is not None else self.admin_password()
        form = {"username": username, "password": password}
        form.update(csrf_fields(self, session, "/login/"))
        response = session.post(f"{self.url}/login/", data=form, timeout=30)
        response.raise_for_status()
        if "sessionid" not in session.cookies:
            raise LabError(f"login as {username} failed: {response.status_code}")
        return session

    def add_host(self, session: requests.Session, name: str, port: int) -> None:
        """Through the Add-host form, as an admin would, with the lab's TLS credentials:
        its first scan is queued at once."""
        assert self.pki is not None
        form = {
            "name": name,
            "endpoint": f"tcp://{self.gateway}:{port}",
            "labels": "env=stack",
            "scan_interval": "60",
            "enabled": "on",
            "tls_ca_cert": self.pki.ca_cert.read_text(),
            "tls_client_cert": self.pki.client_cert.read_text(),
            "tls_client_key": self.pki.client_key.read_text(),
            **csrf_fields(self, session, "/hosts/new"),
        }
        response = session.post(f"{self.url}/hosts/new", data=form, timeout=60)
        if not response.url.endswith(f"/hosts/{name}/"):
            raise LabError(f"adding {name} failed:\n{response.text[-3000:]}")

    def manage(self, *argv: str) -> str:
        return self.exec("web", "python", "manage.py", *argv)[1]

    def shell(self, code: str) -> Any:
        """The JSON that `code` prints, run by `manage.py shell` in web."""
        output = self.manage("shell", "-c", code)
        # Django's shell first says what it imported automatically.
        return json.loads(output.strip().splitlines()[-1])


def csrf_fields(stack: Stack, session: requests.Session, path: str) -> dict[str, str]:
    """The CSRF field of the form at `path`, as a browser would send it back."""
    page = session.get(f"{stack.url}{path}", timeout=30)
    page.raise_for_status()
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    if not match:
        raise LabError(f"no CSRF token on {path}")
    return {"csrfmiddlewaretoken": match.group(1)}


def _exists(client: docker.APIClient, tag: str) -> bool:
    try:
        client.inspect_image(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def _build(client: docker.APIClient, tag: str, **kwargs: Any) -> None:
    # No network inside the build: everything it installs is already in its inputs.
    stream = client.build(
        tag=tag, rm=True, forcerm=True, network_mode="none", decode=True, **kwargs
    )
    log = []
    for chunk in stream:
        log.append(str(chunk.get("stream") or chunk.get("error") or ""))
        if "error" in chunk:
            raise LabError(f"building {tag} failed:\n{''.join(log[-30:])}")


def _context_files(root: Path) -> list[str]:
    """What `docker build` sends from `root`: its files as .dockerignore lets them through
    (docker-py's matcher, the one its build uses), from git's view of a checkout or, for a
    staged copy, every file in it."""
    patterns = [
        line.strip()
        for line in (root / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    matcher = PatternMatcher(patterns)
    if (root / ".git").exists():
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            check=True,
        ).stdout.decode()
        candidates = [name for name in listed.split("\0") if name]
    else:
        candidates = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    return sorted(
        name
        for name in candidates
        if (root / name).is_file() and (name == "Dockerfile" or not matcher.matches(name))
    )


def _run(
    argv: list[str], *, env: dict[str, str], timeout: float, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    if check and result.returncode != 0:
        raise LabError(
            f"{' '.join(argv[:8])}... exit {result.returncode}:\n"
            + "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        )
    return result

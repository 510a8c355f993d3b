"""Redis and PostgreSQL on 127.0.0.1 for the Celery and database tests.

Both run from Debian's packages with all state under /tmp/pst-<name> and durability turned
off: test data is disposable and fsyncs on two cores would only slow the suite down.
"""

from __future__ import annotations

import glob
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg

from lab.process import (
    LabError,
    LabServer,
    live_pid,
    port_open,
    read_state,
    spawn,
)

REDIS_SERVER = "redis-server"
# PostgreSQL refuses to run as root, so the cluster belongs to Debian's `postgres` account.
PG_USER = "postgres"
PG_ROLE = "posture"


class LabRedis(LabServer):
    """A redis-server without persistence, reused when an earlier run left it running."""

    def __init__(
        self,
        name: str = "redis",
        *,
        root: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        start_timeout: float = 10.0,
    ) -> None:
        super().__init__(name, root, host, port, start_timeout)

    @property
    def pidfile(self) -> Path:
        return self.root / "redis.pid"

    @property
    def log_path(self) -> Path:
        return self.root / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        # A fresh object (e.g. one made just to stop the server) learns the port from state.
        port = self.port or int(read_state(self.state_path).get("port") or 0)
        if not port:
            return None
        # redis rewrites its argv to "redis-server 127.0.0.1:PORT", so match on that.
        return live_pid(self.pidfile, "redis-server", f"{self.host}:{port}")

    def ping(self) -> bool:
        return _redis_ping(self.host, self.port)

    def is_ready(self) -> bool:
        return self.ping()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return spawn(
            [
                REDIS_SERVER,
                "--bind",
                self.host,
                "--port",
                str(self.port),
                "--dir",
                str(self.root),
                "--pidfile",
                str(self.pidfile),
                "--save",
                "",
                "--appendonly",
                "no",
                # Foreground, so the process we spawned is the server we later stop.
                "--daemonize",
                "no",
                "--logfile",
                "",
            ],
            self.log_path,
            cwd=self.root,
        )


def _redis_ping(host: str, port: int) -> bool:
    # Plain RESP over a socket: no client library needed to check readiness.
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass(frozen=True)
class PostgresInfo:
    host: str
    port: int
    user: str
    dbname: str

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"

    def env(self) -> dict[str, str]:
        """The settings module's variables for this cluster (POSTURE_DB_ENGINE=postgres)."""
        return {
            "POSTURE_DB_ENGINE": "postgres",
            "POSTURE_DB_HOST": self.host,
            "POSTURE_DB_PORT": str(self.port),
            "POSTURE_DB_USER": self.user,
            "POSTURE_DB_NAME": self.dbname,
        }


class LabPostgres(LabServer):
    """A throwaway PostgreSQL cluster with a `posture` role (CREATEDB) and database."""

    stop_timeout = 15.0
    # PostgreSQL's "fast" shutdown: it does not wait for idle test sessions.
    stop_signal = signal.SIGINT

    def __init__(
        self,
        name: str = "pg",
        *,
        root: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        start_timeout: float = 30.0,
    ) -> None:
        super().__init__(name, root, host, port, start_timeout)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    @property
    def pid(self) -> int | None:
        return live_pid(self.data_dir / "postmaster.pid", "postgres", str(self.data_dir))

    @property
    def info(self) -> PostgresInfo:
        return PostgresInfo(self.host, self.port, PG_ROLE, PG_ROLE)

    def _configure(self) -> None:
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        super()._configure()

    def _initdb(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)
        for directory in (self.data_dir, self.socket_dir):
            directory.mkdir(parents=True, exist_ok=True)
            shutil.chown(directory, PG_USER, PG_USER)
        self.data_dir.chmod(0o700)
        result = subprocess.run(
            [
                str(_pg_bin("initdb")),
                "--pgdata",
                str(self.data_dir),
                "--username",
                PG_USER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                # The cluster is disposable: skipping fsync saves seconds on slow disks.
                "--no-sync",
            ],
            user=PG_USER,
            group=PG_USER,
            extra_groups=[],
            cwd=self.root,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise LabError(f"initdb failed:\n{result.stdout}\n{result.stderr}")
        # Loopback TCP and the lab's own socket directory only; no ::1, no other networks.
        (self.data_dir / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 trust\n"
        )

    def _spawn(self) -> subprocess.Popen[bytes]:
        return spawn(
            [
                str(_pg_bin("postgres")),
                "-D",
                str(self.data_dir),
                "-c",
                f"listen_addresses={self.host}",
                "-c",
                f"port={self.port}",
                "-c",
                f"unix_socket_directories={self.socket_dir}",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=50",
            ],
            self.log_path,
            user=PG_USER,
            cwd=self.root,
        )

    def is_ready(self) -> bool:
        if not port_open(self.host, self.port):
            return False
        try:
            with psycopg.connect(
                host=self.host, port=self.port, user=PG_USER, dbname="postgres", connect_timeout=2
            ):
                return True
        except psycopg.OperationalError:
            return False  # e.g. "the database system is starting up"

    def _started(self) -> None:
        self._ensure_role()

    def _ensure_role(self) -> None:
        with psycopg.connect(
            host=self.host, port=self.port, user=PG_USER, dbname="postgres", autocommit=True
        ) as conn:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [PG_ROLE]).fetchone():
                conn.execute(f"CREATE ROLE {PG_ROLE} LOGIN CREATEDB")
            if not conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [PG_ROLE]
            ).fetchone():
                conn.execute(f"CREATE DATABASE {PG_ROLE} OWNER {PG_ROLE}")


def _pg_bin(program: str) -> Path:
    # Debian installs server binaries per major version, off PATH; take the newest.
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{program}"),
        key=lambda path: int(Path(path).parts[3]) if Path(path).parts[3].isdigit() else 0,
    )
    if not candidates:
        raise LabError(f"PostgreSQL's {program} not found under /usr/lib/postgresql/*/bin")
    return Path(candidates[-1])


def start_redis(name: str = "redis") -> str:
    """Start or reuse the lab Redis and return its URL."""
    return LabRedis(name).start().url


def start_postgres(name: str = "pg") -> PostgresInfo:
    """Start or reuse the lab PostgreSQL cluster and return where to reach it."""
    return LabPostgres(name).start().info

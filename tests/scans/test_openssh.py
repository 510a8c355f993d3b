"""SSH through OpenSSH's own client (scans.transports.openssh), against the lab's real sshd
and dockerd: the trust it is given and nothing more, one login for the whole scan, the
error taxonomy, the deadline, and no process, socket or file left behind when a scan ends,
fails, or its worker is SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.db import connection

from hosts.credentials import Credentials
from hosts.endpoints import parse_endpoint
from lab.daemon import LabDaemon
from lab.sshd import LabSshd
from rules.host_access import COLLECTION
from scans import transports
from scans.hostaccess import collect_host
from scans.transports import ErrorClass, Limits, ScanError, open_api, ssh
from scans.transports.openssh import PREFIX, Master, classify_stderr, sweep_stale

pytestmark = [
    pytest.mark.docker,
    pytest.mark.ssh,
    # No database here: what these prove holds whatever the database, so the SQLite run only.
    pytest.mark.skipif(connection.vendor == "postgresql", reason="no database: SQLite run"),
]
LIMITS = Limits(deadline=30, connect_timeout=5, read_timeout=10, pool_size=2)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _openssh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transports, "SSH_CLIENT", "openssh")


def creds(sshd: LabSshd, host_key: str | None = None, key: str | None = None) -> Credentials:
    return Credentials(
        ssh_private_key=key or sshd.client_private_key,
        ssh_host_key=host_key or sshd.host_public_key,
    )


def url(sshd: LabSshd, daemon: LabDaemon) -> str:
    return f"{sshd.ssh_url}?socket={daemon.socket_path}"


def ours() -> list[Path]:
    """This process's private directories."""
    root = Path("/dev/shm") if os.access("/dev/shm", os.W_OK) else Path("/tmp")
    return sorted(root.glob(f"{PREFIX}{os.getpid()}-*"))


def ssh_children() -> list[int]:
    """Our child processes that are ssh clients (or setpriv about to become one)."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            name, rest = stat.split("(", 1)[1].rsplit(")", 1)
            if int(rest.split()[1]) == me and name in ("ssh", "setpriv"):
                found.append(int(entry.name))
    return found


def gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def test_one_login_carries_the_api_and_the_host_checks_then_nothing_is_left(
    lab_daemon: LabDaemon,
    lab_sshd: LabSshd,
    lab_samples: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GIVEN an agent socket in the worker's environment (it must not be used)
    WHEN a host is read over SSH: the API, then the host checks
    THEN both ride one login, the key file is gone once the master is up, the master sees
    only the pinned key and no agent, and closing leaves no process, socket or file."""
    monkeypatch.setenv("SSH_AUTH_SOCK", "/tmp/pst-no-agent.sock")
    logged = lab_sshd.log_path.stat().st_size
    with open_api(parse_endpoint(url(lab_sshd, lab_daemon)), creds(lab_sshd), LIMITS) as api:
        master = api.ssh_client
        assert isinstance(master, Master) and master.process is not None
        assert api.get_json("/containers/json", {"all": 1})
        access = collect_host(master, api.deadline, "/var/lib/docker")
        assert access.commands[COLLECTION] == "complete"

        files = {p.name for p in master.dir.iterdir()}
        assert "id" not in files and {"ctl", "docker.sock", "known_hosts"} <= files
        assert master.dir.stat().st_mode & 0o777 == 0o700
        pinned = (master.dir / "known_hosts").read_text().splitlines()
        assert pinned == [f"posture-pinned-host {lab_sshd.host_public_key}"]
        environ = Path(f"/proc/{master.process.pid}/environ").read_bytes().split(b"\0")
        assert not [v for v in environ if v.startswith(b"SSH_AUTH_SOCK")]
        argv = Path(f"/proc/{master.process.pid}/cmdline").read_bytes().split(b"\0")
        for option in (b"StrictHostKeyChecking=yes", b"BatchMode=yes", b"IdentitiesOnly=yes"):
            assert option in argv
        assert argv[argv.index(b"-F") + 1] == b"/dev/null"
        assert b"IdentityAgent=none" in argv
        pid = master.process.pid

    assert gone(pid)
    assert ours() == [] and ssh_children() == []
    with lab_sshd.log_path.open(errors="replace") as log:
        log.seek(logged)
        assert log.read().count("Accepted publickey") == 1


def fake_key() -> str:
    return (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


def wrong_client_key() -> str:
    return (
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        .decode()
    )


@pytest.mark.parametrize(
    ("what", "expected"),
    [("host_key", ErrorClass.HOST_KEY_MISMATCH), ("key", ErrorClass.AUTH_FAILED)],
)
def test_a_refused_login_is_classified_and_leaves_nothing(
    lab_daemon: LabDaemon, lab_sshd: LabSshd, what: str, expected: ErrorClass
) -> None:
    bad = {"host_key": fake_key()} if what == "host_key" else {"key": wrong_client_key()}
    with pytest.raises(ScanError) as info:
        open_api(parse_endpoint(url(lab_sshd, lab_daemon)), creds(lab_sshd, **bad), LIMITS)
    assert info.value.error_class is expected
    if expected is ErrorClass.HOST_KEY_MISMATCH:
        assert "SHA256:" in info.value.detail
    assert ours() == [] and ssh_children() == []


def test_nothing_listening_is_unreachable(lab_sshd: LabSshd) -> None:
    with pytest.raises(ScanError) as info:
        open_api(parse_endpoint("ssh://root@127.0.0.1:9"), creds(lab_sshd), LIMITS)
    assert info.value.error_class is ErrorClass.UNREACHABLE
    assert ours() == [] and ssh_children() == []


def test_the_deadline_cuts_a_hanging_request_and_its_master(
    lab_daemon: LabDaemon, lab_sshd: LabSshd
) -> None:
    """GET /events never ends: the scan's watchdog must end it, and the master with it."""
    limits = Limits(deadline=3, connect_timeout=2, read_timeout=10, pool_size=2)
    started = time.monotonic()
    with open_api(parse_endpoint(url(lab_sshd, lab_daemon)), creds(lab_sshd), limits) as api:
        pid = api.ssh_client.process.pid
        with pytest.raises(ScanError) as info:
            api.get_raw("/events")
        assert info.value.error_class is ErrorClass.TIMEOUT
        assert gone(pid)  # before close(): the watchdog took the master down
    assert time.monotonic() - started < 8
    assert ours() == [] and ssh_children() == []


def test_a_master_that_dies_mid_scan_fails_the_scan_in_words(
    lab_daemon: LabDaemon, lab_sshd: LabSshd
) -> None:
    with open_api(parse_endpoint(url(lab_sshd, lab_daemon)), creds(lab_sshd), LIMITS) as api:
        api.get_raw("/_ping", versioned=False)
        api.ssh_client.process.send_signal(signal.SIGKILL)
        api.ssh_client.process.wait()
        with pytest.raises(ScanError) as info:
            api.get_raw("/_ping", versioned=False)
        assert info.value.error_class is ErrorClass.UNREACHABLE
        assert "SSH connection" in info.value.detail
    assert ours() == [] and ssh_children() == []


CHILD = """
import os, sys, time
sys.path.insert(0, {root!r})
os.environ["DJANGO_SETTINGS_MODULE"] = "posture.settings"
import django
django.setup()
from hosts.credentials import Credentials
from hosts.endpoints import parse_endpoint
from scans import transports
transports.SSH_CLIENT = "openssh"
creds = Credentials(ssh_private_key=sys.stdin.read(), ssh_host_key={host_key!r})
api = transports.open_api(parse_endpoint({url!r}), creds, transports.Limits())
print(api.ssh_client.process.pid, api.ssh_client.dir, flush=True)
time.sleep(60)
"""


@pytest.fixture
def worker(lab_daemon: LabDaemon, lab_sshd: LabSshd) -> Iterator[subprocess.Popen[str]]:
    code = CHILD.format(
        root=str(ROOT), host_key=lab_sshd.host_public_key, url=url(lab_sshd, lab_daemon)
    )
    env = {**os.environ, "POSTURE_LOG_LEVEL": "WARNING"}
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env=env,
    )  # fmt: skip
    assert child.stdin is not None
    child.stdin.write(lab_sshd.client_private_key)
    child.stdin.close()
    yield child
    child.kill()
    child.wait()


def test_a_sigkilled_worker_takes_its_master_along_and_the_next_sweeps_its_files(
    worker: subprocess.Popen[str],
) -> None:
    assert worker.stdout is not None
    pid, directory = worker.stdout.readline().split()
    assert Path(directory).is_dir()

    worker.send_signal(signal.SIGKILL)
    worker.wait()

    assert gone(int(pid))  # PR_SET_PDEATHSIG
    assert Path(directory).is_dir()  # a SIGKILLed process cleans nothing up
    sweep_stale(str(Path(directory).parent))
    assert not Path(directory).exists()


def test_the_sweep_spares_live_workers(tmp_path: Path) -> None:
    me = os.getpid()
    started = Path(f"/proc/{me}/stat").read_text().rsplit(")", 1)[1].split()[19]
    alive = tmp_path / f"{PREFIX}{me}-{started}-abc"
    dead = tmp_path / f"{PREFIX}{me}-1-abc"  # this pid, but another process's start time
    alive.mkdir()
    dead.mkdir()

    assert sweep_stale(str(tmp_path)) == 1

    assert alive.exists() and not dead.exists()


CHANGED = """\
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
The fingerprint for the ED25519 key sent by the remote host is
SHA256:jBDOeAROPlNJfiM1haHQURp84TZnTSejadUW+K6mf10.
Host key for posture-pinned-host has changed and you have requested strict checking.
Host key verification failed.
"""


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        (CHANGED, ErrorClass.HOST_KEY_MISMATCH),
        (
            "Unable to negotiate with 127.0.0.1 port 22: no matching host key type found. "
            "Their offer: ssh-ed25519\n",
            ErrorClass.HOST_KEY_UNKNOWN,
        ),
        ("root@127.0.0.1: Permission denied (publickey).\n", ErrorClass.AUTH_FAILED),
        ("ssh: connect to host 127.0.0.1 port 9: Connection refused\n", ErrorClass.UNREACHABLE),
        ("ssh: connect to host 10.0.0.1 port 22: Connection timed out\n", ErrorClass.TIMEOUT),
        ("Connection timed out during banner exchange\n", ErrorClass.TIMEOUT),
        ("kex_exchange_identification: Connection closed by remote host\n", ErrorClass.UNREACHABLE),
    ],
)
def test_ssh_s_words_map_to_the_taxonomy(stderr: str, expected: ErrorClass) -> None:
    error = classify_stderr(stderr, "SHA256:pinned")
    assert error.error_class is expected
    if expected is ErrorClass.HOST_KEY_MISMATCH:
        assert error.detail == (
            "server sent SHA256:jBDOeAROPlNJfiM1haHQURp84TZnTSejadUW+K6mf10, pinned SHA256:pinned"
        )


def test_where_the_worker_has_no_ssh_paramiko_still_scans(
    lab_daemon: LabDaemon, lab_sshd: LabSshd, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SSH_CLIENT is "paramiko" where `ssh` is not installed: the former transport, intact."""
    monkeypatch.setattr(transports, "SSH_CLIENT", "paramiko")
    with open_api(parse_endpoint(url(lab_sshd, lab_daemon)), creds(lab_sshd), LIMITS) as api:
        assert isinstance(api.pool, ssh.SSHPool) and api.pool.streamlocal
        assert api.get_json("/containers/json", {"all": 1})
        access = collect_host(api.ssh_client, api.deadline, "/var/lib/docker")
        assert access.commands[COLLECTION] == "complete"
    assert ssh_children() == []

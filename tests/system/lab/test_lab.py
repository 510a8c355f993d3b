"""The lab's services are real and reachable the way Posture's transports will reach them."""

from __future__ import annotations

import base64
import io
import os
import stat
import tarfile
from pathlib import Path

import docker
import docker.tls
import paramiko
import psycopg
import pytest
import redis
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from lab.daemon import API_VERSION, LabDaemon
from lab.images import is_static_elf, rootfs_tar
from lab.pki import Pki, make_pki
from lab.process import LabError, loopback_host
from lab.samples import FAKE_AWS_SECRET
from lab.services import LabPostgres, LabRedis
from lab.sshd import LabSshd

SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def test_lab_refuses_non_loopback_addresses() -> None:
    assert loopback_host("127.0.0.3") == "127.0.0.3"
    for address in ("0.0.0.0", "10.0.0.1", "192.168.1.1", "localhost"):
        with pytest.raises(LabError):
            loopback_host(address)


def test_pki_keys_are_private_and_reused(tmp_path: Path) -> None:
    first = make_pki(tmp_path, ips=("127.0.0.1", "127.0.0.2"))
    for key in (first.ca_key, first.server_key, first.client_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    cert = first.pem("server_cert")
    assert make_pki(tmp_path, ips=("127.0.0.2",)).pem("server_cert") == cert
    # A name the server cert does not cover means a new PKI.
    assert make_pki(tmp_path, ips=("127.0.0.9",)).pem("server_cert") != cert


def test_rootfs_has_static_busybox_and_applets(tmp_path: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(rootfs_tar())) as tar:
        names = set(tar.getnames())
        busybox = tar.extractfile("bin/busybox")
        assert busybox is not None
        (tmp_path / "busybox").write_bytes(busybox.read())
    assert {"bin/sh", "bin/sleep", "bin/id", "bin/cat", "bin/ls", "bin/echo"} <= names
    assert is_static_elf(tmp_path / "busybox")


@pytest.mark.docker
def test_daemon_answers_on_unix_socket(lab_daemon: LabDaemon) -> None:
    assert lab_daemon.ping()
    with lab_daemon.api_client() as client:
        info = client.info()
        networks = {network["Name"] for network in client.networks()}
    assert info["DockerRootDir"] == str(lab_daemon.data_root)
    # --bridge=none: no docker0 and no bridge network, so the host's networking is untouched.
    assert networks == {"host", "none"}


@pytest.mark.docker
def test_daemon_start_reuses_the_running_one(lab_daemon: LabDaemon, lab_pki: Pki) -> None:
    again = LabDaemon("test", tls=lab_pki).start()
    assert again.reused
    assert again.pid == lab_daemon.pid
    assert again.tcp_url == lab_daemon.tcp_url


@pytest.mark.docker
def test_daemon_answers_over_mutual_tls(
    lab_daemon: LabDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    # REQUESTS_CA_BUNDLE would replace the pinned CA inside requests; the lab client must
    # still verify against the lab CA when it is set (it is on CI machines).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", SYSTEM_CA_BUNDLE)
    assert lab_daemon.tcp_url.startswith("tcp://127.0.0.1:")
    with lab_daemon.tls_api_client() as client:
        assert client.ping()
        assert client.version()["ApiVersion"] == API_VERSION


@pytest.mark.docker
def test_daemon_refuses_a_client_cert_from_another_ca(
    lab_daemon: LabDaemon, lab_pki: Pki, lab_rogue_pki: Pki
) -> None:
    tls = docker.tls.TLSConfig(
        client_cert=(str(lab_rogue_pki.client_cert), str(lab_rogue_pki.client_key)),
        ca_cert=str(lab_pki.ca_cert),
        verify=True,
    )
    with docker.APIClient(lab_daemon.tcp_url, tls=tls, version=API_VERSION, timeout=10) as client:
        client.trust_env = False
        with pytest.raises(requests.exceptions.ConnectionError):
            client.ping()


@pytest.mark.docker
def test_client_refuses_a_daemon_signed_by_another_ca(
    lab_daemon: LabDaemon, lab_pki: Pki, lab_rogue_pki: Pki
) -> None:
    # The rogue CA did not sign the daemon's certificate: verification must fail.
    with (
        lab_daemon.tls_api_client(pki=lab_rogue_pki) as client,
        pytest.raises(requests.exceptions.SSLError),
    ):
        client.ping()


@pytest.mark.docker
def test_busybox_image_runs(lab_client: docker.APIClient, lab_image: str) -> None:
    container = lab_client.create_container(
        lab_image,
        command=["sh", "-c", "echo hello; id -u"],
        host_config=lab_client.create_host_config(network_mode="none"),
    )
    try:
        lab_client.start(container["Id"])
        assert lab_client.wait(container["Id"], timeout=30)["StatusCode"] == 0
        assert lab_client.logs(container["Id"]) == b"hello\n0\n"
    finally:
        lab_client.remove_container(container["Id"], force=True)


@pytest.mark.docker
def test_samples_have_the_misconfigurations_they_advertise(
    lab_daemon: LabDaemon, lab_client: docker.APIClient, lab_samples: dict[str, str]
) -> None:
    inspected = {name: lab_client.inspect_container(cid) for name, cid in lab_samples.items()}
    host = {name: data["HostConfig"] for name, data in inspected.items()}
    config = {name: data["Config"] for name, data in inspected.items()}
    status = {name: data["State"]["Status"] for name, data in inspected.items()}

    # Privileged containers cannot start on this VM (its bounding set lacks CAP_SYS_RESOURCE).
    assert host["lab-privileged"]["Privileged"] is True
    assert status["lab-privileged"] == "created"
    assert {name for name, state in status.items() if state != "running"} == {"lab-privileged"}

    assert f"{lab_daemon.socket_path}:/var/run/docker.sock:rw" in host["lab-docker-sock"]["Binds"]
    assert config["lab-root-user"]["User"] == "root"
    assert sorted(host["lab-cap-add"]["CapAdd"]) == ["NET_ADMIN", "SYS_ADMIN"]
    assert host["lab-seccomp-unconfined"]["SecurityOpt"] == ["seccomp=unconfined"]
    assert host["lab-pid-host"]["PidMode"] == "host"
    assert host["lab-ipc-host"]["IpcMode"] == "host"
    assert host["lab-uts-host"]["UTSMode"] == "host"
    assert host["lab-host-network"]["NetworkMode"] == "host"
    unlimited = host["lab-unlimited"]
    assert not unlimited["ReadonlyRootfs"]
    assert (unlimited["Memory"], unlimited["NanoCpus"], unlimited["PidsLimit"] or 0) == (0, 0, 0)
    assert "/etc:/host/etc:rw" in host["lab-host-etc"]["Binds"]
    assert host["lab-device"]["Devices"][0]["PathOnHost"] == "/dev/null"
    assert host["lab-restart-always"]["RestartPolicy"]["Name"] == "always"
    assert f"AWS_SECRET_ACCESS_KEY={FAKE_AWS_SECRET}" in config["lab-env-secret"]["Env"]
    for name, hc in host.items():
        expected = "host" if name == "lab-host-network" else "none"
        assert hc["NetworkMode"] == expected, name

    hardened, hardened_config = host["lab-hardened"], config["lab-hardened"]
    assert hardened_config["User"] == "1000:1000"
    assert hardened["CapDrop"] == ["ALL"]
    assert hardened["SecurityOpt"] == ["no-new-privileges:true"]
    assert hardened["ReadonlyRootfs"] is True
    assert hardened["Memory"] == 64 * 1024 * 1024
    assert hardened["NanoCpus"] == 500_000_000
    assert hardened["PidsLimit"] == 64
    assert hardened["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert not hardened["Binds"]


def _pinned_client(host_key_line: str, sshd: LabSshd) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    key_type, blob = host_key_line.split()[:2]
    key = paramiko.PKey.from_type_string(key_type, base64.b64decode(blob))
    client.get_host_keys().add(f"[{sshd.host}]:{sshd.port}", key_type, key)
    return client


def _dial_stdio_ping(client: paramiko.SSHClient, docker_host: str) -> bytes:
    channel = client.get_transport().open_session()  # type: ignore[union-attr]
    channel.settimeout(15)
    try:
        channel.exec_command(f"docker -H {docker_host} system dial-stdio")
        channel.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
        response = b""
        while not response.endswith(b"\r\n\r\nOK"):
            chunk = channel.recv(4096)
            if not chunk:
                break
            response += chunk
        return response
    finally:
        channel.close()


@pytest.mark.ssh
@pytest.mark.docker
def test_sshd_runs_dial_stdio_with_a_pinned_host_key(
    lab_sshd: LabSshd, lab_daemon: LabDaemon
) -> None:
    # Credentials in the form a host record stores them: key text and a pinned key line.
    assert lab_sshd.host_public_key.startswith("ssh-ed25519 AAAA")
    pkey = paramiko.Ed25519Key.from_private_key(io.StringIO(lab_sshd.client_private_key))
    with _pinned_client(lab_sshd.host_public_key, lab_sshd) as client:
        client.connect(
            lab_sshd.host,
            port=lab_sshd.port,
            username=lab_sshd.user,
            pkey=pkey,
            allow_agent=False,
            look_for_keys=False,
            timeout=10,
        )
        response = _dial_stdio_ping(client, lab_daemon.unix_url)
    assert response.startswith(b"HTTP/1.1 200 OK")
    assert response.endswith(b"\r\n\r\nOK")


@pytest.mark.ssh
def test_sshd_session_finds_a_docker_cli(lab_sshd: LabSshd) -> None:
    with lab_sshd.connect() as client:
        _, stdout, _ = client.exec_command("command -v docker")
        path = stdout.read().decode().strip()
    assert path in ("/usr/local/bin/docker", "/usr/bin/docker")


@pytest.mark.ssh
def test_sshd_is_refused_under_a_different_pinned_host_key(lab_sshd: LabSshd) -> None:
    other = Ed25519PrivateKey.generate().public_key()
    other_line = other.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
    client = _pinned_client(other_line, lab_sshd)
    with pytest.raises(paramiko.BadHostKeyException):
        client.connect(
            lab_sshd.host,
            port=lab_sshd.port,
            username="root",
            key_filename=str(lab_sshd.client_key_path),
            allow_agent=False,
            look_for_keys=False,
            timeout=10,
        )
    client.close()


@pytest.mark.ssh
def test_sshd_refuses_an_unknown_client_key(lab_sshd: LabSshd) -> None:
    client = _pinned_client(lab_sshd.host_public_key, lab_sshd)
    with pytest.raises(paramiko.AuthenticationException):
        client.connect(
            lab_sshd.host,
            port=lab_sshd.port,
            username="root",
            pkey=paramiko.ECDSAKey.generate(),
            allow_agent=False,
            look_for_keys=False,
            timeout=10,
        )
    client.close()


def test_redis_answers(lab_redis: LabRedis) -> None:
    client = redis.Redis.from_url(lab_redis.url)
    assert client.ping()
    assert LabRedis("test-redis").start().reused
    client.close()


def test_postgres_role_can_create_databases(lab_postgres: LabPostgres) -> None:
    info = lab_postgres.info
    with psycopg.connect(info.url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT current_user, rolcreatedb FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert row == ("posture", True)
    assert info.env()["POSTURE_DB_PORT"] == str(lab_postgres.port)
    assert os.path.isdir(lab_postgres.socket_dir)

"""Collection over unix socket, mutual TLS and SSH against a real dockerd and sshd.

Also proves each docker-py trap the transports are built around, by showing the trap on
stock docker-py and its absence on ours.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import docker
import docker.tls
import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from hosts.credentials import Credentials
from hosts.endpoints import parse_endpoint
from lab.daemon import LabDaemon
from lab.pki import Pki
from lab.process import running
from lab.sshd import LabSshd
from scans.collect import collect
from scans.transports import ErrorClass, Limits, ScanError, open_api

pytestmark = pytest.mark.docker
NO_CREDENTIALS = Credentials()
LIMITS = Limits(deadline=30, connect_timeout=5, read_timeout=10, pool_size=4)


def tls_creds(pki: Pki, ca: Pki | None = None, client: Pki | None = None) -> Credentials:
    client = client or pki
    return Credentials(
        ca_cert=(ca or pki).pem("ca_cert"),
        client_cert=client.pem("client_cert"),
        client_key=client.pem("client_key"),
    )


def ssh_creds(sshd: LabSshd, host_key: str | None = None, key: str | None = None) -> Credentials:
    return Credentials(
        ssh_private_key=key or sshd.client_private_key,
        ssh_host_key=host_key or sshd.host_public_key,
    )


def ssh_endpoint(sshd: LabSshd, daemon: LabDaemon) -> str:
    return f"{sshd.ssh_url}?socket={daemon.socket_path}"


def collect_from(url: str, creds: Credentials = NO_CREDENTIALS):  # noqa: ANN201
    with open_api(parse_endpoint(url), creds, LIMITS) as api:
        return collect(api), api


def error_from(url: str, creds: Credentials) -> ScanError:
    with pytest.raises(ScanError) as info:
        collect_from(url, creds)
    return info.value


def test_unix_socket(lab_daemon: LabDaemon, lab_samples: dict[str, str]) -> None:
    facts, _ = collect_from(lab_daemon.unix_url)
    names = {c.name for c in facts.containers}
    assert set(lab_samples) <= names
    assert facts.version["ApiVersion"]
    assert any(img.history is not None for img in facts.images)


def test_mutual_tls(lab_daemon: LabDaemon, lab_pki: Pki, lab_samples: dict[str, str]) -> None:
    facts, api = collect_from(lab_daemon.tcp_url, tls_creds(lab_pki))
    assert set(lab_samples) <= {c.name for c in facts.containers}
    assert api.api_version == "1.41"


def test_tls_wrong_ca_is_refused(lab_daemon: LabDaemon, lab_pki: Pki, lab_rogue_pki: Pki) -> None:
    error = error_from(lab_daemon.tcp_url, tls_creds(lab_pki, ca=lab_rogue_pki))
    assert error.error_class is ErrorClass.TLS_VERIFY


def test_requests_ca_bundle_cannot_widen_trust(
    lab_daemon: LabDaemon, lab_pki: Pki, lab_rogue_pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN REQUESTS_CA_BUNDLE names the CA that signed the daemon's certificate
    AND the host record holds a different CA
    WHEN stock docker-py connects, it trusts the environment's bundle (the trap),
    THEN Posture's transport still verifies against the host's own CA and refuses."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(lab_pki.ca_cert))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(lab_pki.ca_cert))
    stock = docker.APIClient(
        base_url=lab_daemon.tcp_url,
        version="1.41",
        tls=docker.tls.TLSConfig(
            client_cert=(str(lab_pki.client_cert), str(lab_pki.client_key)),
            ca_cert=str(lab_rogue_pki.ca_cert),
            verify=True,
        ),
    )
    assert stock.version()["ApiVersion"]  # the trap: the rogue CA setting was ignored
    stock.close()

    error = error_from(lab_daemon.tcp_url, tls_creds(lab_pki, ca=lab_rogue_pki))
    assert error.error_class is ErrorClass.TLS_VERIFY


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tlsconfig_without_verify_does_not_verify(
    lab_daemon: LabDaemon, lab_pki: Pki, lab_rogue_pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docker-py's TLSConfig verifies the server only when verify=True: given a CA and no
    verify flag it connects to anyone. Posture has no such switch."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    stock = docker.APIClient(
        base_url=lab_daemon.tcp_url,
        version="1.41",
        tls=docker.tls.TLSConfig(
            client_cert=(str(lab_pki.client_cert), str(lab_pki.client_key)),
            ca_cert=str(lab_rogue_pki.ca_cert),
        ),
    )
    assert stock.version()["ApiVersion"]
    stock.close()
    assert (
        error_from(lab_daemon.tcp_url, tls_creds(lab_pki, ca=lab_rogue_pki)).error_class
        is ErrorClass.TLS_VERIFY
    )


def test_tls_client_certificate_rejected(
    lab_daemon: LabDaemon, lab_pki: Pki, lab_rogue_pki: Pki
) -> None:
    error = error_from(lab_daemon.tcp_url, tls_creds(lab_pki, client=lab_rogue_pki))
    assert error.error_class in (ErrorClass.AUTH_FAILED, ErrorClass.TLS_VERIFY), error


def test_tls_nothing_listening(lab_pki: Pki) -> None:
    error = error_from("tcp://127.0.0.1:9", tls_creds(lab_pki))
    assert error.error_class is ErrorClass.UNREACHABLE


@pytest.mark.ssh
def test_ssh_one_connection_pooled_channels(
    lab_daemon: LabDaemon, lab_sshd: LabSshd, lab_samples: dict[str, str]
) -> None:
    facts, api = collect_from(ssh_endpoint(lab_sshd, lab_daemon), ssh_creds(lab_sshd))
    assert set(lab_samples) <= {c.name for c in facts.containers}
    pool = api.pool
    requests_made = 5 + len(facts.containers) + 2 * len(facts.images)
    # docker-py's stock transport opens one channel and dial-stdio per distinct URL.
    assert pool.num_connections <= 2 < requests_made
    # Channels are streamlocal forwards to the socket: no shell, no docker CLI per channel.
    assert pool.streamlocal is True


@pytest.fixture(scope="module")
def sshd_without_forwarding() -> Iterator[LabSshd]:
    with running(LabSshd("test-ssh-nofwd", streamlocal_forwarding=False)) as sshd:
        yield sshd


@pytest.mark.ssh
def test_ssh_falls_back_to_dial_stdio_where_forwarding_is_refused(
    lab_daemon: LabDaemon, sshd_without_forwarding: LabSshd, lab_samples: dict[str, str]
) -> None:
    """GIVEN an sshd configured with `AllowStreamLocalForwarding no`
    WHEN Posture scans a daemon through it
    THEN the server refuses the streamlocal channel and the scan still completes, over
    `docker system dial-stdio` sessions."""
    sshd = sshd_without_forwarding
    logged = sshd.log_path.stat().st_size  # an adopted sshd's log holds earlier runs
    facts, api = collect_from(ssh_endpoint(sshd, lab_daemon), ssh_creds(sshd))
    assert set(lab_samples) <= {c.name for c in facts.containers}
    assert api.pool.streamlocal is False
    with sshd.log_path.open(errors="replace") as log:
        log.seek(logged)
        assert "refused streamlocal port forward" in log.read()


@pytest.mark.ssh
def test_ssh_changed_host_key_is_refused(lab_daemon: LabDaemon, lab_sshd: LabSshd) -> None:
    fake = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    error = error_from(ssh_endpoint(lab_sshd, lab_daemon), ssh_creds(lab_sshd, host_key=fake))
    assert error.error_class is ErrorClass.HOST_KEY_MISMATCH


@pytest.mark.ssh
def test_ssh_host_key_of_another_type_is_not_trusted_on_first_use(
    lab_daemon: LabDaemon, lab_sshd: LabSshd
) -> None:
    rsa_pub = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    line = rsa_pub.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()
    error = error_from(ssh_endpoint(lab_sshd, lab_daemon), ssh_creds(lab_sshd, host_key=line))
    assert error.error_class in (ErrorClass.HOST_KEY_UNKNOWN, ErrorClass.HOST_KEY_MISMATCH)


@pytest.mark.ssh
def test_ssh_wrong_client_key(lab_daemon: LabDaemon, lab_sshd: LabSshd) -> None:
    key = (
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        .decode()
    )
    error = error_from(ssh_endpoint(lab_sshd, lab_daemon), ssh_creds(lab_sshd, key=key))
    assert error.error_class is ErrorClass.AUTH_FAILED


@pytest.mark.ssh
def test_ssh_remote_socket_missing(lab_sshd: LabSshd) -> None:
    error = error_from(f"{lab_sshd.ssh_url}?socket=/tmp/pst-no-such.sock", ssh_creds(lab_sshd))
    assert error.error_class in (ErrorClass.UNREACHABLE, ErrorClass.MALFORMED), error


def test_stock_paramiko_key_loader_accepts_what_we_store(lab_sshd: LabSshd) -> None:
    assert paramiko.Ed25519Key.from_private_key(io.StringIO(lab_sshd.client_private_key))

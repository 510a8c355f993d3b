"""The target policy at connect time: real sockets on 127.0.0.1, a real TLS daemon.

Registration-time checks are tests/hosts/test_targets.py; here the transports themselves
resolve once, check every address, and connect only to what they checked.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.urls import reverse

from hosts.credentials import Credentials
from hosts.endpoints import parse_endpoint
from hosts.models import Host
from hosts.targets import parse_policy
from lab.daemon import LabDaemon
from lab.pki import Pki
from scans import services
from scans.collect import collect
from scans.models import ScanRun
from scans.transports import Dialer, ErrorClass, Limits, ScanError, open_api
from tests.factories import UserFactory

LIMITS = Limits(deadline=10, connect_timeout=3, read_timeout=3, pool_size=4)
LOOPBACK = parse_policy("127.0.0.0/8")
ELSEWHERE = parse_policy("10.0.0.0/8")


class Listener:
    """A TCP port on 127.0.0.1 that counts the connections made to it, then drops them."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.accepted = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.server.accept()
                self.accepted += 1
                conn.close()

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def ssh_keys() -> tuple[str, str]:
    """(private key in OpenSSH form, a public key line to pin)."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return private, public.decode()


def tls_creds(pki: Pki) -> Credentials:
    return Credentials(
        ca_cert=pki.pem("ca_cert"),
        client_cert=pki.pem("client_cert"),
        client_key=pki.pem("client_key"),
    )


def ssh_creds() -> Credentials:
    private, public = ssh_keys()
    return Credentials(ssh_private_key=private, ssh_host_key=public)


def attempt(url: str, creds: Credentials, dialer: Dialer) -> ScanError | None:
    try:
        with open_api(parse_endpoint(url), creds, LIMITS, dialer) as api:
            api.get_raw("/_ping", versioned=False)
    except ScanError as exc:
        return exc
    return None


@pytest.mark.parametrize("scheme", ["tcp://", "ssh://ops@"])
def test_a_permitted_loopback_target_is_connected_to(
    listener: Listener, lab_pki: Pki, scheme: str
) -> None:
    creds = tls_creds(lab_pki) if scheme == "tcp://" else ssh_creds()

    error = attempt(f"{scheme}127.0.0.1:{listener.port}", creds, Dialer(policy=LOOPBACK))

    # The listener is no daemon: the scan fails, but after connecting, not by policy.
    assert error is not None and error.error_class is not ErrorClass.TARGET_REFUSED
    assert listener.accepted >= 1


@pytest.mark.parametrize("scheme", ["tcp://", "ssh://ops@"])
def test_a_target_outside_the_policy_is_never_connected_to(
    listener: Listener, lab_pki: Pki, scheme: str
) -> None:
    creds = tls_creds(lab_pki) if scheme == "tcp://" else ssh_creds()

    error = attempt(f"{scheme}127.0.0.1:{listener.port}", creds, Dialer(policy=ELSEWHERE))

    assert error is not None and error.error_class is ErrorClass.TARGET_REFUSED
    assert "127.0.0.1 is outside the targets" in error.detail
    assert not error.transient
    assert listener.accepted == 0


def test_a_name_is_checked_by_every_address_it_resolves_to(
    listener: Listener, lab_pki: Pki
) -> None:
    def two_answers(host: str, port: int) -> list[str]:
        return ["127.0.0.1", "169.254.169.254"]

    error = attempt(
        f"tcp://docker.lab.test:{listener.port}", tls_creds(lab_pki), Dialer(two_answers)
    )

    assert error is not None and error.error_class is ErrorClass.TARGET_REFUSED
    assert "docker.lab.test resolves to 169.254.169.254" in error.detail
    assert listener.accepted == 0


def test_the_default_policy_keeps_loopback_open(listener: Listener, lab_pki: Pki) -> None:
    error = attempt(f"tcp://127.0.0.1:{listener.port}", tls_creds(lab_pki), Dialer())

    assert error is not None and error.error_class is not ErrorClass.TARGET_REFUSED
    assert listener.accepted >= 1


@pytest.mark.django_db
def test_a_refused_scan_is_a_permanent_error_and_the_host_page_says_why(
    client: object, settings: object
) -> None:
    """GIVEN a host registered before the policy excluded its address
    WHEN it is scanned
    THEN the scan fails at once (no retry) as "target refused by policy", with the sentence
    on the host's page."""
    settings.POSTURE_ALLOWED_TARGETS = "10.0.0.0/8"  # type: ignore[attr-defined]
    private, public = ssh_keys()
    host = Host(name="meta", endpoint="ssh://ops@127.0.0.1:22", ssh_host_key=public)
    host.set_ssh_private_key(private)
    host.save()
    run, _ = services.request_scan(host, enqueue=False)

    run = services.run_scan(run.pk, LIMITS)

    assert run.status == ScanRun.Status.FAILED
    assert run.error_class == ErrorClass.TARGET_REFUSED.value
    assert run.attempts == 1
    assert "127.0.0.1 is outside the targets this Posture may reach" in run.error_detail
    client.force_login(UserFactory())  # type: ignore[attr-defined]
    page = client.get(reverse("host-detail", args=[host.name]))  # type: ignore[attr-defined]
    assert b"Target refused by policy" in page.content
    assert b"127.0.0.1 is outside the targets this Posture may reach" in page.content


@pytest.mark.docker
def test_a_name_is_resolved_once_per_scan_no_dns_rebinding(
    lab_daemon: LabDaemon, lab_pki: Pki
) -> None:
    """GIVEN a name whose first answer is allowed and whose later answers are the metadata
    address (DNS rebinding)
    WHEN a whole collection runs over several pooled connections
    THEN every connection goes to the address that was checked: one lookup, no refusal."""
    lookups: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"] if len(lookups) == 1 else ["169.254.169.254"]

    endpoint = parse_endpoint(f"tcp://localhost:{lab_daemon.tcp_port}")
    with open_api(endpoint, tls_creds(lab_pki), LIMITS, Dialer(rebinding)) as api:
        facts = collect(api)
        connections = api.pool.num_connections

    assert facts.version.get("ApiVersion")
    assert connections >= 2
    assert lookups == ["localhost"]


@pytest.mark.docker
def test_tls_still_checks_the_name_as_registered(lab_daemon: LabDaemon, lab_pki: Pki) -> None:
    """The connection goes to the checked address, but the daemon's certificate must still
    name the host as registered (it names localhost and 127.0.0.1, not docker.lab.test)."""

    def to_loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    error = attempt(
        f"tcp://docker.lab.test:{lab_daemon.tcp_port}", tls_creds(lab_pki), Dialer(to_loopback)
    )

    assert error is not None and error.error_class is ErrorClass.TLS_VERIFY
    assert "docker.lab.test" in error.detail
    assert (
        attempt(f"tcp://localhost:{lab_daemon.tcp_port}", tls_creds(lab_pki), Dialer(to_loopback))
        is None
    )

"""Adding, editing and deleting hosts; private keys are write-only."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from hosts.models import Host
from scans.models import ScanRun
from tests.factories import (
    FindingFactory,
    HostFactory,
    HostPostureFactory,
    UserFactory,
    make_ssh_pem,
    make_tls_pem,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def user_client(client: Client) -> Client:
    client.force_login(UserFactory())
    return client


def form_data(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "docker-new",
        "endpoint": "unix:///var/run/docker.sock",
        "labels": "env=prod, team=payments",
        "owner_email": "ops@example.org",
        "scan_interval": "15",
        "enabled": "on",
        "tls_ca_cert": "",
        "tls_client_cert": "",
        "tls_client_key": "",
        "ssh_private_key": "",
        "ssh_host_key": "",
    }
    data.update(overrides)
    return data


def key_body(pem: str) -> str:
    """A line from inside a key: what must never appear in a page."""
    return pem.strip().splitlines()[1]


def test_add_unix_host_queues_its_first_scan(
    user_client: Client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = user_client.post(reverse("host-add"), form_data())

    host = Host.objects.get(name="docker-new")
    assert response.status_code == 302
    assert response["Location"] == reverse("host-detail", args=["docker-new"])
    assert host.labels == {"env": "prod", "team": "payments"}
    assert host.owner_email == "ops@example.org"
    assert host.transport == "unix"
    scan = ScanRun.objects.get(host=host)
    assert scan.status == ScanRun.Status.QUEUED
    assert scan.trigger == ScanRun.Trigger.MANUAL
    assert len(callbacks) == 1  # the Celery .delay, sent once the transaction commits


def test_add_tls_host_stores_the_key_encrypted(user_client: Client):
    pem = make_tls_pem()

    response = user_client.post(
        reverse("host-add"),
        form_data(
            endpoint="tcp://docker1.example.org:2376",
            tls_ca_cert=pem.ca_cert,
            tls_client_cert=pem.client_cert,
            tls_client_key=pem.client_key,
        ),
    )

    host = Host.objects.get(name="docker-new")
    assert response.status_code == 302
    assert host.transport == "tls"
    assert host.has_tls_client_key
    assert key_body(pem.client_key) not in host.tls_client_key_enc
    assert host.credentials().client_key == pem.client_key
    assert host.tls_ca_cert == pem.ca_cert


def test_add_ssh_host(user_client: Client):
    pem = make_ssh_pem()

    response = user_client.post(
        reverse("host-add"),
        form_data(
            endpoint="ssh://deploy@docker2.example.org:2222",
            ssh_private_key=pem.private_key,
            ssh_host_key=f"docker2.example.org {pem.host_key}",
        ),
    )

    host = Host.objects.get(name="docker-new")
    assert response.status_code == 302, response.content.decode()
    assert host.transport == "ssh"
    assert host.credentials().ssh_private_key == pem.private_key
    assert host.ssh_host_key.startswith("docker2.example.org ssh-ed25519 ")


@pytest.mark.parametrize(
    "endpoint, message",
    [
        ("http://x", "Plain http:// is refused"),
        ("tcp://", "The endpoint has no host name."),
        ("ssh://host", "An SSH endpoint needs a user"),
        ("ftp://host", "must start with unix://, tcp:// or ssh://"),
    ],
)
def test_bad_endpoints_are_refused(user_client: Client, endpoint: str, message: str):
    response = user_client.post(reverse("host-add"), form_data(endpoint=endpoint))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Host.objects.exists()


def test_tcp_endpoint_needs_ca_cert_and_key(user_client: Client):
    response = user_client.post(reverse("host-add"), form_data(endpoint="tcp://d.example.org"))
    html = response.content.decode()

    assert response.status_code == 200
    assert "needs the CA certificate" in html
    assert "needs a client certificate" in html
    assert "needs the client certificate&#x27;s private key" in html
    assert not Host.objects.exists()


def test_ssh_endpoint_needs_private_key_and_pinned_host_key(user_client: Client):
    response = user_client.post(reverse("host-add"), form_data(endpoint="ssh://u@d.example.org"))
    html = response.content.decode()

    assert "An ssh:// endpoint needs a private key." in html
    assert "needs the server&#x27;s host key" in html
    assert not Host.objects.exists()


@pytest.mark.parametrize(
    "field, value, message",
    [
        (
            "tls_ca_cert",
            "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----",
            "The CA certificate is not a PEM certificate.",
        ),
        ("tls_client_cert", "hello", "The client certificate is not a PEM certificate."),
        (
            "tls_client_key",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
            "The client key is not an unencrypted PEM private key.",
        ),
    ],
)
def test_bad_pem_is_refused_with_a_clear_message(
    user_client: Client, field: str, value: str, message: str
):
    pem = make_tls_pem()
    data = form_data(
        endpoint="tcp://d.example.org",
        tls_ca_cert=pem.ca_cert,
        tls_client_cert=pem.client_cert,
        tls_client_key=pem.client_key,
    )
    data[field] = value

    response = user_client.post(reverse("host-add"), data)

    assert message in response.content.decode()
    assert not Host.objects.exists()


def test_key_that_does_not_match_the_certificate_is_refused(user_client: Client):
    pem, other = make_tls_pem(), make_tls_pem()

    response = user_client.post(
        reverse("host-add"),
        form_data(
            endpoint="tcp://d.example.org",
            tls_ca_cert=pem.ca_cert,
            tls_client_cert=pem.client_cert,
            tls_client_key=other.client_key,
        ),
    )

    assert "This key does not belong to the client certificate." in response.content.decode()


def test_bad_ssh_material_is_refused(user_client: Client):
    response = user_client.post(
        reverse("host-add"),
        form_data(
            endpoint="ssh://u@d.example.org",
            ssh_private_key="not a key",
            ssh_host_key="ssh-ed25519 !!!",
        ),
    )
    html = response.content.decode()

    assert "The SSH private key could not be read" in html
    assert "The host key is invalid" in html


@pytest.mark.parametrize(
    "labels, message",
    [
        ("env", "Write each label as key=value"),
        ("bad key=x", "Label key bad key"),
        ("env=a\x07b", "control characters"),
        ("env=" + "x" * 101, "longer than 100 characters"),
        ("env=a, env=b", "is given twice"),
    ],
)
def test_bad_labels_are_refused(user_client: Client, labels: str, message: str):
    response = user_client.post(reverse("host-add"), form_data(labels=labels))

    assert message in response.content.decode()
    assert not Host.objects.exists()


def test_a_refused_form_never_echoes_the_private_keys(user_client: Client):
    tls, ssh = make_tls_pem(), make_ssh_pem()

    response = user_client.post(
        reverse("host-add"),
        form_data(
            endpoint="http://nope",
            tls_client_key=tls.client_key,
            ssh_private_key=ssh.private_key,
            tls_client_cert=tls.client_cert,
        ),
    )
    html = response.content.decode()

    assert "Plain http:// is refused" in html
    assert key_body(tls.client_key) not in html
    assert key_body(ssh.private_key) not in html
    assert key_body(tls.client_cert) in html  # public material is shown back


def test_stored_keys_never_appear_in_pages(user_client: Client):
    """GIVEN hosts with an encrypted TLS key and an encrypted SSH key
    WHEN their host pages and edit forms are rendered
    THEN neither the key text nor its ciphertext is in the HTML, only a "stored" note."""
    tls_host, tls = HostFactory.with_tls_credentials(name="tls-host")
    ssh_host, ssh = HostFactory.with_ssh_credentials(name="ssh-host")
    for host in (tls_host, ssh_host):
        HostPostureFactory(host=host)
        FindingFactory(host=host)
    secrets = [
        key_body(tls.client_key),
        key_body(ssh.private_key),
        tls_host.tls_client_key_enc,
        ssh_host.ssh_private_key_enc,
        tls_host.tls_client_key_enc[:40],
        ssh_host.ssh_private_key_enc[:40],
    ]

    pages = {
        url: user_client.get(url).content.decode()
        for host in (tls_host, ssh_host)
        for url in (
            reverse("host-detail", args=[host.name]),
            reverse("host-edit", args=[host.name]),
            reverse("host-delete", args=[host.name]),
        )
    }
    pages["fleet"] = user_client.get(reverse("fleet")).content.decode()

    for url, html in pages.items():
        for secret in secrets:
            assert secret not in html, url
    tls_form = pages[reverse("host-edit", args=["tls-host"])]
    assert "A client key is stored (encrypted)." in tls_form
    assert key_body(tls.client_cert) in tls_form
    ssh_form = pages[reverse("host-edit", args=["ssh-host"])]
    assert "A private key is stored (encrypted)." in ssh_form
    assert ssh.host_key.split()[1] in ssh_form


def test_edit_with_blank_key_keeps_the_stored_key(user_client: Client):
    host, pem = HostFactory.with_tls_credentials(name="tls-host")
    ciphertext = host.tls_client_key_enc

    response = user_client.post(
        reverse("host-edit", args=[host.name]),
        form_data(
            name="tls-host",
            # The same address, written out with its default port: not a move.
            endpoint="tcp://docker.example.org",
            tls_ca_cert=pem.ca_cert,
            tls_client_cert=pem.client_cert,
            labels="env=qa",
        ),
    )

    host.refresh_from_db()
    assert response.status_code == 302
    assert host.endpoint == "tcp://docker.example.org"
    assert host.labels == {"env": "qa"}
    assert host.tls_client_key_enc == ciphertext
    assert host.credentials().client_key == pem.client_key


def test_edit_can_replace_and_remove_keys(user_client: Client):
    host, _ = HostFactory.with_ssh_credentials(name="ssh-host")
    new = make_ssh_pem()
    url = reverse("host-edit", args=[host.name])

    user_client.post(
        url,
        form_data(
            name="ssh-host",
            endpoint=host.endpoint,
            ssh_private_key=new.private_key,
            ssh_host_key=new.host_key,
        ),
    )
    host.refresh_from_db()
    assert host.credentials().ssh_private_key == new.private_key

    response = user_client.post(
        url,
        form_data(name="ssh-host", endpoint="unix:///run/docker.sock", remove_ssh_private_key="on"),
    )
    host.refresh_from_db()
    assert response.status_code == 302
    assert not host.has_ssh_private_key


def test_removing_the_key_an_endpoint_needs_is_refused(user_client: Client):
    host, pem = HostFactory.with_tls_credentials(name="tls-host")

    response = user_client.post(
        reverse("host-edit", args=[host.name]),
        form_data(
            name="tls-host",
            endpoint=host.endpoint,
            tls_ca_cert=pem.ca_cert,
            tls_client_cert=pem.client_cert,
            remove_tls_client_key="on",
        ),
    )

    host.refresh_from_db()
    assert "needs the client certificate&#x27;s private key" in response.content.decode()
    assert host.has_tls_client_key


def test_edit_form_shows_current_values(user_client: Client):
    host = HostFactory(name="docker7", labels={"team": "payments", "env": "prod"})

    html = user_client.get(reverse("host-edit", args=[host.name])).content.decode()

    assert 'value="env=prod, team=payments"' in html
    assert 'value="docker7"' in html


def test_rename_redirects_to_the_new_name(user_client: Client):
    host = HostFactory(name="old-name")

    response = user_client.post(reverse("host-edit", args=[host.name]), form_data(name="new-name"))

    assert response["Location"] == reverse("host-detail", args=["new-name"])


def test_delete_asks_then_deletes_on_post(user_client: Client):
    host = HostFactory(name="doomed")
    HostPostureFactory(host=host)
    url = reverse("host-delete", args=[host.name])

    confirm = user_client.get(url)
    assert confirm.status_code == 200
    assert "Delete doomed?" in confirm.content.decode()
    assert Host.objects.filter(name="doomed").exists()

    response = user_client.post(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("fleet")
    assert not Host.objects.filter(name="doomed").exists()


def test_unknown_host_is_404(user_client: Client):
    assert user_client.get(reverse("host-edit", args=["nope"])).status_code == 404
    assert user_client.post(reverse("host-delete", args=["nope"])).status_code == 404

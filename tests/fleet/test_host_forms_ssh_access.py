"""A tcp:// host's separate SSH access for the host checks: address, pinned host key and a
write-only private key, validated like the endpoint's own credentials (issue 16)."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from hosts.models import Host
from tests.factories import HostFactory, UserFactory, make_ssh_pem, make_tls_pem
from tests.fleet.test_host_forms import form_data, key_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def user_client(client: Client) -> Client:
    client.force_login(UserFactory())
    return client


def tls_data(pem, **overrides: object) -> dict[str, object]:  # noqa: ANN001
    data = form_data(
        endpoint="tcp://docker1.example.org:2376",
        tls_ca_cert=pem.ca_cert,
        tls_client_cert=pem.client_cert,
        tls_client_key=pem.client_key,
        ssh_access="",
        ssh_access_host_key="",
        ssh_access_key="",
    )
    data.update(overrides)
    return data


def errors(response) -> dict[str, list[str]]:  # noqa: ANN001
    return {k: [str(e) for e in v] for k, v in response.context["form"].errors.items()}


def tls_host_with_access() -> tuple[Host, object, object]:
    host, tls = HostFactory.with_tls_credentials(name="tls-host")
    ssh = make_ssh_pem()
    host.ssh_access = "posture@docker.example.org:22"
    host.ssh_access_host_key = ssh.host_key
    host.set_ssh_access_key(ssh.private_key)
    host.save()
    return host, tls, ssh


def edit_data(host: Host, tls, **overrides: object) -> dict[str, object]:  # noqa: ANN001
    data = tls_data(
        tls,
        name=host.name,
        endpoint=host.endpoint,
        tls_client_key="",
        ssh_access=host.ssh_access,
        ssh_access_host_key=host.ssh_access_host_key,
    )
    data.update(overrides)
    return data


def test_a_tls_host_can_be_given_ssh_access(user_client: Client):
    tls, ssh = make_tls_pem(), make_ssh_pem()

    response = user_client.post(
        reverse("host-add"),
        tls_data(
            tls,
            ssh_access="ssh://posture@docker1.example.org",
            ssh_access_host_key=f"  {ssh.host_key}\n",
            ssh_access_key=ssh.private_key,
        ),
    )

    assert response.status_code == 302, errors(response)
    host = Host.objects.get(name="docker-new")
    assert host.ssh_access == "posture@docker1.example.org:22"  # one spelling
    assert host.ssh_access_endpoint is not None and host.ssh_access_endpoint.user == "posture"
    assert host.ssh_access_host_key == ssh.host_key
    assert key_body(ssh.private_key) not in host.ssh_access_key_enc
    assert host.ssh_access_credentials().ssh_private_key == ssh.private_key
    assert host.ssh_access_credentials().ssh_host_key == ssh.host_key
    created = AuditEvent.objects.get(action="host.created")
    assert "ssh_access_key" in created.details["credentials"]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"ssh_access": "docker1.example.org"}, "ssh_access", "needs a user"),
        ({"ssh_access": "u@h.example.org:99999"}, "ssh_access", "port"),
        ({"ssh_access": "u@h.example.org?socket=/x.sock"}, "ssh_access", "no ?socket"),
        ({"ssh_access": "u@169.254.169.254"}, "ssh_access", "metadata address"),
        ({"ssh_access_host_key": ""}, "ssh_access_host_key", "pinned"),
        ({"ssh_access_host_key": "ssh-ed25519 garbage"}, "ssh_access_host_key", ""),
        ({"ssh_access_key": ""}, "ssh_access_key", "needs a private key"),
        ({"ssh_access_key": "not a key"}, "ssh_access_key", ""),
        ({"ssh_access": ""}, "ssh_access", "Give the SSH address"),
    ],
)
def test_bad_ssh_access_is_refused_where_it_was_typed(
    user_client: Client, overrides: dict[str, str], field: str, message: str
):
    tls, ssh = make_tls_pem(), make_ssh_pem()
    data = tls_data(
        tls,
        ssh_access="posture@docker1.example.org:22",
        ssh_access_host_key=ssh.host_key,
        ssh_access_key=ssh.private_key,
    )
    data.update(overrides)

    response = user_client.post(reverse("host-add"), data)

    assert response.status_code in (200, 422)
    found = errors(response)
    assert field in found, found
    assert message.lower() in " ".join(found[field]).lower()
    html = response.content.decode()
    assert "field-invalid" in html
    assert key_body(ssh.private_key) not in html  # never echoed back
    assert not Host.objects.filter(name="docker-new").exists()


@pytest.mark.parametrize("endpoint", ["unix:///var/run/docker.sock", "ssh://u@d.example.org"])
def test_ssh_access_is_for_tcp_hosts_only(user_client: Client, endpoint: str):
    ssh = make_ssh_pem()
    data = form_data(
        endpoint=endpoint,
        ssh_private_key=ssh.private_key,
        ssh_host_key=ssh.host_key,
        ssh_access="posture@docker1.example.org:22",
        ssh_access_host_key=ssh.host_key,
        ssh_access_key=ssh.private_key,
    )

    response = user_client.post(reverse("host-add"), data)

    assert response.status_code in (200, 422)
    assert "tcp:// hosts only" in " ".join(errors(response)["ssh_access"])


def test_a_blank_key_keeps_the_stored_one_and_nothing_is_rendered(user_client: Client):
    host, tls, ssh = tls_host_with_access()
    ciphertext = host.ssh_access_key_enc
    url = reverse("host-edit", args=[host.name])

    page = user_client.get(url).content.decode()
    response = user_client.post(url, edit_data(host, tls, labels="env=qa"))

    assert "A private key for host checks is stored (encrypted)." in page
    assert ssh.host_key.split()[1] in page  # public: shown back to be checked
    for secret in (key_body(ssh.private_key), ciphertext[:40]):
        assert secret not in page
    assert response.status_code == 302, errors(response)
    host.refresh_from_db()
    assert host.ssh_access_key_enc == ciphertext


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ({"ssh_access": "posture@other.example.org:22"}, "the SSH address"),
        ({"ssh_access": "root@docker.example.org:22"}, "the SSH address"),
        ({"ssh_access_host_key": make_ssh_pem().host_key}, "its pinned host key"),
    ],
)
def test_moving_the_access_needs_the_key_again(
    user_client: Client, change: dict[str, str], what: str
):
    """A host editor must not send the stored key to another machine (or trust another
    host key for it) without holding the key: as for the endpoint's own keys."""
    host, tls, ssh = tls_host_with_access()
    url = reverse("host-edit", args=[host.name])

    refused = user_client.post(url, edit_data(host, tls, **change))
    accepted = user_client.post(url, edit_data(host, tls, ssh_access_key=ssh.private_key, **change))

    assert refused.status_code in (200, 422)
    message = " ".join(errors(refused)["ssh_access_key"])
    assert what in message and "again" in message
    assert accepted.status_code == 302, errors(accepted)


def test_clearing_the_address_removes_the_access_and_is_audited(user_client: Client):
    host, tls, ssh = tls_host_with_access()
    new = make_ssh_pem()
    url = reverse("host-edit", args=[host.name])

    replaced = user_client.post(url, edit_data(host, tls, ssh_access_key=new.private_key))
    host.refresh_from_db()
    ciphertext = host.ssh_access_key_enc
    removed = user_client.post(url, edit_data(host, tls, ssh_access="", ssh_access_host_key=""))

    assert (replaced.status_code, removed.status_code) == (302, 302)
    host.refresh_from_db()
    assert (host.ssh_access, host.ssh_access_host_key, host.ssh_access_key_enc) == ("", "", "")
    updates = list(AuditEvent.objects.filter(action="host.updated").order_by("pk"))
    assert updates[0].changes["ssh_access_key"] == ["(replaced)", "(replaced)"]
    assert updates[1].changes["ssh_access"] == ["posture@docker.example.org:22", ""]
    assert updates[1].changes["ssh_access_host_key"][0].startswith("sha256:")
    credentials = [
        e.details
        for e in AuditEvent.objects.filter(action="host.credentials_replaced").order_by("pk")
    ]
    assert credentials == [
        {"replaced": ["ssh_access_key"], "removed": []},
        {"replaced": [], "removed": ["ssh_access_key"]},
    ]
    trail = json.dumps(list(AuditEvent.objects.values()), default=str)
    for secret in (key_body(ssh.private_key), key_body(new.private_key), ciphertext[:40]):
        assert secret not in trail

"""The host form per account: team-scoped accounts add and keep hosts in their own teams,
unix:// endpoints are an admin's, a stored key is never re-pointed at another machine, and
every change lands in the audit trail without a secret in it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from access.models import Team
from audit.models import AuditEvent
from hosts.models import Host
from tests.factories import HostFactory, UserFactory, make_ssh_pem, make_tls_pem
from tests.fleet.test_host_forms import form_data, key_body

pytestmark = pytest.mark.django_db

FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = FAST_HASHERS


def client_of(role: str, *teams: str) -> Client:
    client = Client()
    rows = [Team.objects.get_or_create(label=t, defaults={"name": t.title()})[0] for t in teams]
    client.force_login(UserFactory(role=role, role__teams=rows))
    return client


def errors(response: Any) -> str:
    assert response.status_code == 200, "the form was accepted"
    return " ".join(" ".join(e) for e in response.context["form"].errors.values())


# --- Teams ----------------------------------------------------------------------------------


def test_the_add_form_offers_the_operators_team():
    form = client_of("operator", "pay").get(reverse("host-add")).content.decode()

    assert 'value="team=pay"' in form  # its one team, filled in
    assert "team=… must be one of your teams: pay." in form


@pytest.mark.parametrize(
    "role, teams, labels, refused",
    [
        ("operator", ("pay",), "team=pay, env=prod", False),
        ("operator", ("pay",), "team=web", True),
        ("operator", ("pay",), "env=prod", True),
        ("operator", ("pay", "web"), "team=web", False),
        ("security", ("web",), "team=pay", True),
        ("security", (), "team=anything", False),
        ("admin", (), "env=prod", False),
    ],
)
def test_adding_a_host_of_another_team_is_refused(
    role: str, teams: tuple[str, ...], labels: str, refused: bool
):
    pem = make_tls_pem()
    data = form_data(
        endpoint="tcp://d1.example.org:2376",
        labels=labels,
        tls_ca_cert=pem.ca_cert,
        tls_client_cert=pem.client_cert,
        tls_client_key=pem.client_key,
    )

    response = client_of(role, *teams).post(reverse("host-add"), data)

    assert Host.objects.filter(name="docker-new").exists() != refused
    if refused:
        message = f"You can add hosts of your teams only: {', '.join(sorted(teams))}."
        assert message in errors(response)


def test_an_operator_without_a_team_is_told_so():
    client = client_of("operator")

    response = client.post(reverse("host-add"), form_data(endpoint="tcp://d1.example.org"))

    assert "Your account belongs to no team" in errors(response)


def test_an_operator_cannot_move_its_host_out_of_its_teams():
    host = HostFactory(name="pay-1", labels={"team": "pay"})
    client = client_of("operator", "pay")

    response = client.post(
        reverse("host-edit", args=["pay-1"]),
        form_data(name="pay-1", endpoint=host.endpoint, labels="team=web"),
    )

    assert "The host must stay in one of your teams: pay" in errors(response)
    host.refresh_from_db()
    assert host.labels == {"team": "pay"}


def test_an_operator_edits_its_hosts_unix_endpoint_left_as_it_is():
    """An admin registered a unix:// host for team pay; its operator may change its labels
    and interval, not register the socket anew."""
    host = HostFactory(name="pay-1", labels={"team": "pay"}, endpoint="unix:///var/run/docker.sock")
    client = client_of("operator", "pay")

    kept = client.post(
        reverse("host-edit", args=["pay-1"]),
        form_data(name="pay-1", endpoint=host.endpoint, labels="team=pay, env=qa"),
    )
    moved = client.post(
        reverse("host-edit", args=["pay-1"]),
        form_data(name="pay-1", endpoint="unix:///run/podman/podman.sock", labels="team=pay"),
    )

    assert kept.status_code == 302
    assert "only an administrator" in errors(moved)
    host.refresh_from_db()
    assert host.endpoint == "unix:///var/run/docker.sock"
    assert host.labels == {"team": "pay", "env": "qa"}


# --- unix:// --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role, teams, accepted",
    [("admin", (), True), ("security", (), False), ("operator", ("pay",), False)],
)
def test_unix_endpoints_are_for_admins(role: str, teams: tuple[str, ...], accepted: bool):
    response = client_of(role, *teams).post(
        reverse("host-add"), form_data(labels="team=pay", endpoint="unix:///var/run/docker.sock")
    )

    assert Host.objects.filter(name="docker-new").exists() == accepted
    if not accepted:
        assert "only an administrator (or the command line) may register one" in errors(response)


# --- Stored keys follow the machine ---------------------------------------------------------


def tls_edit(host: Host, pem: Any, **overrides: object) -> dict[str, object]:
    data = form_data(
        name=host.name,
        endpoint=host.endpoint,
        labels="team=pay",
        tls_ca_cert=pem.ca_cert,
        tls_client_cert=pem.client_cert,
    )
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    "change, what",
    [
        ({"endpoint": "tcp://elsewhere.example.org:2376"}, "the endpoint"),
        ({"endpoint": "tcp://docker.example.org:2377"}, "the endpoint"),
        ({"tls_ca_cert": make_tls_pem().ca_cert}, "the CA certificate"),
    ],
)
def test_moving_a_tls_host_needs_its_key_again(change: dict[str, object], what: str):
    host, pem = HostFactory.with_tls_credentials(name="tls-host", labels={"team": "pay"})
    before = Host.objects.values().get(pk=host.pk)
    client = client_of("security")
    url = reverse("host-edit", args=[host.name])

    refused = client.post(url, tls_edit(host, pem, **change))

    assert f"You changed {what}: enter the client key again (or remove it)" in errors(refused)
    assert Host.objects.values().get(pk=host.pk) == before

    accepted = client.post(url, tls_edit(host, pem, tls_client_key=pem.client_key, **change))

    assert accepted.status_code == 302
    host.refresh_from_db()
    assert host.tls_client_key_enc != before["tls_client_key_enc"]


def test_moving_an_ssh_host_or_its_pinned_key_needs_its_private_key_again():
    host, pem = HostFactory.with_ssh_credentials(name="ssh-host", labels={"team": "pay"})
    client = client_of("operator", "pay")
    url = reverse("host-edit", args=[host.name])
    other = make_ssh_pem()
    base = form_data(name="ssh-host", labels="team=pay", endpoint=host.endpoint)

    new_key = client.post(url, {**base, "ssh_host_key": other.host_key})
    new_user = client.post(
        url, {**base, "endpoint": "ssh://root@docker.example.org:22", "ssh_host_key": pem.host_key}
    )
    same = client.post(url, {**base, "ssh_host_key": pem.host_key, "owner_email": "a@b.org"})

    assert "You changed the pinned host key: enter the SSH private key again" in errors(new_key)
    assert "You changed the endpoint: enter the SSH private key again" in errors(new_user)
    assert same.status_code == 302  # nothing of the host's identity changed: the key stays
    moved = client.post(
        url, {**base, "ssh_host_key": other.host_key, "ssh_private_key": other.private_key}
    )
    assert moved.status_code == 302


def test_removing_the_stored_key_also_allows_a_move():
    host, pem = HostFactory.with_ssh_credentials(name="ssh-host")
    client = client_of("admin")

    response = client.post(
        reverse("host-edit", args=[host.name]),
        form_data(
            name="ssh-host", endpoint="unix:///var/run/docker.sock", remove_ssh_private_key="on"
        ),
    )

    assert response.status_code == 302
    host.refresh_from_db()
    assert not host.has_ssh_private_key


# --- Audit ----------------------------------------------------------------------------------


def trail() -> str:
    return json.dumps(list(AuditEvent.objects.values()), default=str)


def test_add_edit_delete_are_audited_without_a_secret():
    pem, new = make_tls_pem(), make_tls_pem()
    client = Client()
    client.force_login(UserFactory(username="sec", role="security"))
    created = client.post(
        reverse("host-add"),
        form_data(
            endpoint="tcp://d1.example.org:2376",
            labels="team=pay",
            tls_ca_cert=pem.ca_cert,
            tls_client_cert=pem.client_cert,
            tls_client_key=pem.client_key,
        ),
    )
    host = Host.objects.get(name="docker-new")
    first_ciphertext = host.tls_client_key_enc
    edited = client.post(
        reverse("host-edit", args=[host.name]),
        form_data(
            endpoint="tcp://d2.example.org:2376",
            labels="team=pay, env=prod",
            tls_ca_cert=new.ca_cert,
            tls_client_cert=new.client_cert,
            tls_client_key=new.client_key,
        ),
    )
    host.refresh_from_db()
    second_ciphertext = host.tls_client_key_enc
    deleted = client.post(reverse("host-delete", args=[host.name]))

    assert (created.status_code, edited.status_code, deleted.status_code) == (302, 302, 302)
    events = {e.action: e for e in AuditEvent.objects.filter(action__startswith="host.")}
    assert set(events) == {
        "host.created",
        "host.updated",
        "host.endpoint_changed",
        "host.credentials_replaced",
        "host.deleted",
    }
    for event in events.values():
        assert event.actor_name == "sec"
        assert event.target_type == "host" and event.target_repr == "docker-new"
    assert events["host.created"].details["endpoint"] == "tcp://d1.example.org:2376"
    assert events["host.created"].details["labels"] == {"team": "pay"}
    changes = events["host.updated"].changes
    assert changes["endpoint"] == ["tcp://d1.example.org:2376", "tcp://d2.example.org:2376"]
    assert changes["labels"] == [{"team": "pay"}, {"team": "pay", "env": "prod"}]
    assert changes["tls_client_key"] == ["(replaced)", "(replaced)"]
    assert changes["tls_ca_cert"][0].startswith("sha256:")
    assert events["host.endpoint_changed"].changes == {"endpoint": changes["endpoint"]}
    assert events["host.credentials_replaced"].details == {
        "replaced": ["tls_client_key"],
        "removed": [],
    }
    text = trail()
    for secret in (
        key_body(pem.client_key),
        key_body(new.client_key),
        first_ciphertext[:40],
        second_ciphertext[:40],
    ):
        assert secret not in text


def test_secret_fields_are_kept_out_of_error_reports():
    pem = make_tls_pem()
    client = client_of("admin")

    for url in (reverse("host-add"), reverse("host-edit", args=[HostFactory().name])):
        response = client.post(url, form_data(endpoint="http://x", tls_client_key=pem.client_key))
        hidden = response.wsgi_request.sensitive_post_parameters  # type: ignore[attr-defined]
        assert set(hidden) == {"tls_client_key", "ssh_private_key", "ssh_access_key"}

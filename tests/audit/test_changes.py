"""django-auditlog records changes to the followed models, with who and from where, and
never a secret: not a key, not its ciphertext, not a password hash."""

from __future__ import annotations

import json

import pytest
from auditlog.context import set_actor
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from access.models import AccessProfile, Team
from audit.middleware import AuditlogMiddleware
from audit.registration import FOLLOWED, secret_fields
from hosts.models import Host
from tests.factories import HostFactory, UserFactory, make_ssh_pem, make_tls_pem

pytestmark = pytest.mark.django_db


def _entries(model: type, pk: object) -> list[LogEntry]:
    content_type = ContentType.objects.get_for_model(model)
    return list(
        LogEntry.objects.filter(content_type=content_type, object_pk=str(pk)).order_by("id")
    )


def _all_entries_text() -> str:
    return json.dumps(list(LogEntry.objects.values()), default=str)


def test_a_host_edit_in_a_request_names_who_and_from_where(rf: RequestFactory):
    host, _ = HostFactory.with_tls_credentials(name="pay-1", labels={"env": "prod"})
    alice = UserFactory(username="alice")
    # A forged X-Forwarded-For is not the address: REMOTE_ADDR is (audit.middleware).
    request = rf.post(
        "/hosts/pay-1/edit/", REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR="10.9.9.9"
    )
    request.user = alice

    def edit(request: HttpRequest) -> HttpResponse:
        host.endpoint = "tcp://other.example.org:2376"
        host.labels = {"env": "staging"}
        host.save()
        return HttpResponse()

    AuditlogMiddleware(edit)(request)

    entry = _entries(Host, host.pk)[-1]
    assert entry.action == LogEntry.Action.UPDATE
    assert (entry.actor, entry.remote_addr, entry.additional_data) == (
        alice,
        "192.0.2.7",
        {"actor": "alice"},
    )
    assert entry.changes == {
        "endpoint": ["tcp://docker.example.org:2376", "tcp://other.example.org:2376"],
        "labels": [{"env": "prod"}, {"env": "staging"}],
    }
    assert entry.serialized_data is None


def test_no_secret_of_a_host_lands_in_an_entry():
    host, tls = HostFactory.with_tls_credentials(name="pay-1")
    ssh_host, ssh = HostFactory.with_ssh_credentials(name="pay-2")
    ciphertexts = [host.tls_client_key_enc, ssh_host.ssh_private_key_enc]

    # Keys replaced, the host changed, then deleted: every kind of entry.
    new_tls, new_ssh = make_tls_pem(), make_ssh_pem()
    host.set_tls_client_key(new_tls.client_key)
    host.owner_email = "ops@example.org"
    host.save()
    ssh_host.set_ssh_private_key(new_ssh.private_key)
    ssh_host.save()
    ciphertexts += [host.tls_client_key_enc, ssh_host.ssh_private_key_enc]
    Host.objects.get(pk=ssh_host.pk).delete()

    stored = _all_entries_text()
    # Created and updated; created and deleted (a key alone changing writes no entry).
    assert len(_entries(Host, host.pk)) == 2 and len(_entries(Host, ssh_host.pk)) == 2
    for pem in (tls.client_key, ssh.private_key, new_tls.client_key, new_ssh.private_key):
        lines = [line for line in pem.splitlines() if line and not line.startswith("-----")]
        assert [line for line in lines if line in stored] == []
    for ciphertext in ciphertexts:
        assert ciphertext[-24:] not in stored
    assert "_enc" not in stored and "PRIVATE KEY" not in stored


def test_a_save_that_changes_only_excluded_fields_writes_nothing():
    host, _ = HostFactory.with_tls_credentials(name="pay-1")
    before = len(_entries(Host, host.pk))

    host.set_tls_client_key(make_tls_pem().client_key)  # the host's page records this itself
    host.next_scan_at = host.next_scan_at.replace(year=2030)
    host.save()

    assert len(_entries(Host, host.pk)) == before


def test_a_password_change_writes_nothing_and_the_hash_never():
    user = UserFactory(username="alice")
    before = len(_entries(type(user), user.pk))

    user.set_password("a much longer passphrase")
    user.save()

    assert len(_entries(type(user), user.pk)) == before
    assert user.password not in _all_entries_text()
    assert "pbkdf2" not in _all_entries_text() and "md5$" not in _all_entries_text()


def test_role_and_team_changes_are_followed():
    team = Team.objects.create(name="Payments", label="pay")
    user = UserFactory(username="ops", role="viewer")
    profile = AccessProfile.objects.get(user=user)
    admin = UserFactory(username="root")

    with set_actor(admin, remote_addr="192.0.2.1"):
        profile.role = "operator"
        profile.save()
        profile.teams.add(team)

    role_entry, teams_entry = _entries(AccessProfile, profile.pk)[-2:]
    assert role_entry.changes == {"role": ["viewer", "operator"]}
    assert teams_entry.changes == {
        "teams": {"type": "m2m", "operation": "add", "objects": ["Payments"]}
    }
    assert {role_entry.actor, teams_entry.actor} == {admin}
    assert _entries(Team, team.pk)[0].action == LogEntry.Action.CREATE


def test_no_followed_model_keeps_a_secret_field():
    from auditlog.registry import auditlog
    from django.apps import apps

    for spec in FOLLOWED:
        model = apps.get_model(spec.label)
        excluded = set(auditlog.get_model_fields(model)["exclude_fields"])
        assert secret_fields(model) <= excluded, spec.label
    assert {"tls_client_key_enc", "ssh_private_key_enc"} <= secret_fields(Host)

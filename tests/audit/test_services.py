"""record() takes who and from where from the request; diff() never carries a secret."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from audit.models import AuditEvent
from audit.services import SECRET, diff, record
from tests.factories import HostFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_record_takes_the_actor_and_address_from_the_request(rf: RequestFactory):
    user = UserFactory(username="alice")
    request = rf.post("/hosts/x/edit/", REMOTE_ADDR="192.0.2.7")
    request.user = user
    host = HostFactory(name="pay-1")

    event = record("host.updated", request=request, target=host, changes={"enabled": (True, False)})

    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor, stored.actor_name, str(stored.address)) == (user, "alice", "192.0.2.7")
    assert (stored.target_type, stored.target_id, stored.target_repr) == (
        "host",
        str(host.pk),
        "pay-1",
    )
    assert stored.changes == {"enabled": [True, False]}


def test_record_without_a_person_names_its_source():
    event = record("keys.rotated", source="cli", details={"hosts": 3})

    assert (event.actor, event.actor_name, event.source, event.address) == (None, "", "cli", None)
    assert event.details == {"hosts": 3}


def test_the_name_outlives_the_account():
    user = UserFactory(username="leaver")
    event = record("auth.login", actor=user)

    user.delete()

    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor, stored.actor_name) == (None, "leaver")


def test_diff_lists_what_changed_and_replaces_secrets():
    before = {"endpoint": "tcp://a:2376", "enabled": True, "ssh_key": "-----BEGIN old"}
    after = {"endpoint": "tcp://b:2376", "enabled": True, "ssh_key": "-----BEGIN new"}

    changes = diff(before, after, secret={"ssh_key"})

    assert changes == {"endpoint": ("tcp://a:2376", "tcp://b:2376"), "ssh_key": (SECRET, SECRET)}
    assert "BEGIN" not in repr(changes)


def test_diff_of_equal_dicts_is_empty():
    assert diff({"a": 1}, {"a": 1}, secret={"a"}) == {}

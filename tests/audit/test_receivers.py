"""Signing in, failing to, being locked out and signing out are written to the trail; the
password tried never is."""

from __future__ import annotations

import json
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.apps import apps
from django.test import Client, RequestFactory
from django.urls import reverse

from audit import receivers
from audit.models import AuditEvent
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

WRONG = "Tr0ub4dor&3-not-the-password"


def _everything_stored() -> str:
    rows = [*AuditEvent.objects.values(), *LogEntry.objects.values()]
    return json.dumps(rows, default=str)


def test_a_sign_in_is_recorded_with_its_address():
    user = UserFactory(username="alice")
    client = Client(REMOTE_ADDR="198.51.100.4")

    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})

    assert response.status_code == 302
    event = AuditEvent.objects.get(action="auth.login")
    assert (event.actor, event.actor_name, str(event.address)) == (user, "alice", "198.51.100.4")
    assert PASSWORD not in _everything_stored()


def test_a_failed_sign_in_keeps_the_name_tried_never_the_password():
    UserFactory(username="alice")
    client = Client(REMOTE_ADDR="203.0.113.9")

    response = client.post(reverse("login"), {"username": "alice", "password": WRONG})

    assert response.status_code == 200  # the form again, with its error
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.actor is None and str(event.address) == "203.0.113.9"
    assert (event.target_type, event.target_id, event.details) == (
        "user",
        "alice",
        {"username": "alice"},
    )
    assert WRONG not in _everything_stored()
    assert not AuditEvent.objects.filter(action="auth.login").exists()


def test_an_unknown_account_is_recorded_too():
    Client().post(reverse("login"), {"username": "nobody", "password": WRONG})

    assert AuditEvent.objects.get(action="auth.login_failed").details == {"username": "nobody"}


def test_signing_out_is_recorded(client: Client):
    user = UserFactory(username="alice")
    client.force_login(user)

    client.post(reverse("logout"))

    assert AuditEvent.objects.get(action="auth.logout").actor == user


def test_a_lock_out_is_recorded(rf: RequestFactory):
    # The arguments django-axes sends with user_locked_out (axes.handlers.database).
    request = rf.post("/login/", REMOTE_ADDR="203.0.113.9")
    receivers.locked_out("axes", request=request, username="alice", ip_address="203.0.113.9")

    event = AuditEvent.objects.get(action="auth.locked_out")
    assert (event.target_id, str(event.address)) == ("alice", "203.0.113.9")
    assert event.details == {"username": "alice", "address": "203.0.113.9"}


@pytest.mark.skipif(not apps.is_installed("axes"), reason="django-axes is not installed")
def test_too_many_failures_lock_out_and_the_trail_says_so(settings: Any):
    settings.AXES_FAILURE_LIMIT = 3
    UserFactory(username="alice")
    client = Client(REMOTE_ADDR="203.0.113.9")

    for _ in range(3):
        client.post(reverse("login"), {"username": "alice", "password": WRONG})

    assert AuditEvent.objects.filter(action="auth.login_failed").count() == 3
    event = AuditEvent.objects.get(action="auth.locked_out")
    assert (event.target_id, str(event.address)) == ("alice", "203.0.113.9")
    assert WRONG not in _everything_stored()

"""Admins manage accounts in the app: invitations with a one-time set-password link, roles,
teams, deactivation; every change in the audit trail."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from access.models import Team
from access.services import access_for
from audit.models import AuditEvent
from tests.factories import HostFactory, HostPostureFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSPHRASE = "seven amber kites over the harbour"
LINK = re.compile(r"http://testserver(/account/welcome/[^<\s]+)")


@pytest.fixture
def pay() -> Team:
    return Team.objects.create(name="Payments", label="pay")


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(UserFactory(username="boss"))
    return client


def invite(client: Client, **fields: object):
    data = {"username": "manager", "email": "manager@example.org", "role": "viewer", **fields}
    return client.post(reverse("user-add"), data)


def test_an_invited_viewer_sets_a_password_and_sees_only_their_team(
    admin_client: Client, pay: Team
) -> None:
    """GIVEN hosts of two teams WHEN an admin invites a viewer of team pay, who opens the
    link, sets a password and signs in THEN the fleet page lists only pay's host."""
    for name, label in (("pay-1", "pay"), ("web-1", "web")):
        HostPostureFactory(host=HostFactory(name=name, labels={"team": label}))

    created = invite(admin_client, teams=[pay.pk])

    assert created.status_code == 200
    match = LINK.search(created.content.decode())
    assert match
    manager = User.objects.get(username="manager")
    assert not manager.has_usable_password()
    assert access_for(manager).scope.allows_team("pay")
    assert not access_for(manager).scope.allows_team("web")

    visitor = Client()
    opened = visitor.get(match.group(1), follow=True)
    assert opened.status_code == 200 and "Set your password" in opened.content.decode()
    form_url = opened.redirect_chain[-1][0]
    short = visitor.post(form_url, {"new_password1": "too short", "new_password2": "too short"})
    assert "This password is too short" in short.content.decode()
    done = visitor.post(form_url, {"new_password1": PASSPHRASE, "new_password2": PASSPHRASE})
    assert done.status_code == 302 and done["Location"] == reverse("login")

    signed_in = visitor.post(reverse("login"), {"username": "manager", "password": PASSPHRASE})
    assert signed_in.status_code == 302
    fleet = visitor.get(reverse("fleet")).content.decode()
    assert "pay-1" in fleet and "web-1" not in fleet

    again = Client().get(match.group(1), follow=True)
    assert "This link is not valid" in again.content.decode()


def test_the_invitation_is_audited_without_any_secret(admin_client: Client, pay: Team) -> None:
    response = invite(admin_client, role="operator", teams=[pay.pk])

    token = LINK.search(response.content.decode()).group(1).rstrip("/").rsplit("/", 1)[-1]
    event = AuditEvent.objects.get(action="user.created")
    assert event.actor_name == "boss" and event.target_repr == "manager"
    assert event.changes["role"] == [None, "operator"]
    assert event.changes["teams"] == [None, ["pay"]]
    assert token not in str(AuditEvent.objects.values_list("details", "changes"))


def test_a_taken_username_is_refused_in_place(admin_client: Client) -> None:
    UserFactory(username="manager")

    response = invite(admin_client)

    assert response.status_code == 200
    assert "A user with that username already exists" in response.content.decode()
    assert not AuditEvent.objects.filter(action="user.created").exists()


def test_the_list_shows_role_teams_activity_and_second_factor(
    admin_client: Client, pay: Team
) -> None:
    from tests.accounts.totp import enrolled

    ops = UserFactory(username="ops", role="operator", role__teams=[pay])
    enrolled(ops)
    UserFactory(username="gone", role="viewer", is_active=False)

    html = admin_client.get(reverse("users")).content.decode()

    row = re.search(r"<tr>\s*<td><a[^>]*>ops</a>.*?</tr>", html, re.S)
    assert row and "operator" in row.group(0) and "Payments" in row.group(0)
    assert re.search(r"<td>on</td>", row.group(0))
    gone = re.search(r"<tr>\s*<td><a[^>]*>gone</a>.*?</tr>", html, re.S)
    assert gone and "<strong>no</strong>" in gone.group(0)


def test_an_edit_records_role_and_teams_before_and_after(admin_client: Client, pay: Team) -> None:
    person = UserFactory(username="pat", role="viewer")

    response = admin_client.post(
        reverse("user-edit", args=[person.pk]),
        {"role": "operator", "teams": [pay.pk], "active": "on"},
    )

    assert response.status_code == 302
    assert access_for(person).role == "operator"
    event = AuditEvent.objects.get(action="user.updated")
    assert event.changes == {"role": ["viewer", "operator"], "teams": [[], ["pay"]]}


def test_deactivating_ends_the_sessions_and_is_audited(admin_client: Client) -> None:
    person = UserFactory(username="pat", role="viewer")
    theirs = Client()
    theirs.force_login(person)

    admin_client.post(reverse("user-edit", args=[person.pk]), {"role": "viewer"})

    person.refresh_from_db()
    assert not person.is_active
    assert AuditEvent.objects.get(action="user.deactivated").target_repr == "pat"
    assert theirs.get(reverse("fleet")).status_code == 302  # back to the login page


def test_an_admin_cannot_demote_or_deactivate_themselves(client: Client) -> None:
    admin = UserFactory()
    client.force_login(admin)

    response = client.post(reverse("user-edit", args=[admin.pk]), {"role": "viewer"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "You cannot take the admin role away from yourself" in html
    assert "You cannot deactivate your own account" in html
    admin.refresh_from_db()
    assert admin.is_active and access_for(admin).is_admin
    assert not AuditEvent.objects.filter(action__startswith="user.").exists()


def test_a_new_link_replaces_a_forgotten_password(admin_client: Client) -> None:
    person = UserFactory(role="viewer")

    response = admin_client.post(reverse("user-edit", args=[person.pk]), {"action": "invite"})

    assert LINK.search(response.content.decode())
    person.refresh_from_db()
    assert not person.has_usable_password()
    assert AuditEvent.objects.filter(action="user.updated", target_id=str(person.pk)).exists()


@pytest.mark.parametrize("role", ["security", "operator", "viewer"])
@pytest.mark.parametrize("name", ["users", "user-add", "user-edit", "teams", "team-edit"])
def test_only_admins_manage_accounts(client: Client, role: str, name: str, pay: Team) -> None:
    client.force_login(UserFactory(role=role))
    args = {"user-edit": [UserFactory().pk], "team-edit": [pay.pk]}.get(name, [])

    assert client.get(reverse(name, args=args)).status_code == 403
    assert client.post(reverse(name, args=args), {"role": "admin"}).status_code == 403


def test_the_list_costs_the_same_queries_for_more_accounts(admin_client: Client, pay: Team):
    UserFactory(role="operator", role__teams=[pay])
    admin_client.get(reverse("users"))  # warm: session, content types

    with CaptureQueriesContext(connection) as few:
        admin_client.get(reverse("users"))
    for n in range(5):
        UserFactory(username=f"more{n}", role="viewer", role__teams=[pay])
    with CaptureQueriesContext(connection) as many:
        admin_client.get(reverse("users"))

    assert len(many) == len(few)


def test_the_page_with_the_link_is_not_cached(admin_client: Client) -> None:
    response = invite(admin_client)

    assert "no-store" in response["Cache-Control"]

"""Passwords: 12 characters at least, and one's own changed at /account/password/."""

from __future__ import annotations

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW = "quiet lanterns drift north"


@pytest.mark.parametrize(
    "password",
    ["Tr0ub4dor&3", "password1234", "user-of-posture"],
    ids=["11-chars", "common", "similar"],
)
def test_weak_passwords_are_refused(password: str) -> None:
    user = UserFactory.build(username="user-of-posture", email="someone@example.org")

    with pytest.raises(ValidationError):
        validate_password(password, user)


def test_a_long_passphrase_is_accepted() -> None:
    validate_password(NEW, UserFactory.build())


def test_the_account_page_shows_role_teams_and_email(client: Client) -> None:
    from access.models import Team

    team = Team.objects.create(name="Payments", label="pay")
    user = UserFactory(role="operator", role__teams=[team], email="ops@example.org")
    client.force_login(user)

    html = client.get(reverse("account")).content.decode()

    assert user.username in html and "ops@example.org" in html
    assert "operator" in html and "Payments" in html and "team=pay" in html
    assert reverse("password-change") in html and reverse("mfa") in html


def change(client: Client, old: str, new: str, again: str | None = None):
    data = {"old_password": old, "new_password1": new, "new_password2": again or new}
    return client.post(reverse("password-change"), data)


def test_own_password_change_needs_the_old_one_and_keeps_the_session(client: Client) -> None:
    user = UserFactory(role="viewer")
    client.force_login(user)

    page = client.get(reverse("password-change")).content.decode()
    wrong_old = change(client, "not my password", NEW)
    done = change(client, PASSWORD, NEW)

    assert "at least 12 characters" in page  # the validators' rules are shown
    assert wrong_old.status_code == 200
    assert "Your old password was entered incorrectly" in wrong_old.content.decode()
    assert done.status_code == 302 and done["Location"] == reverse("account")
    user.refresh_from_db()
    assert user.check_password(NEW)
    assert client.get(reverse("account")).status_code == 200  # still signed in
    event = AuditEvent.objects.get(action="auth.password_changed")
    assert event.actor_id == user.pk
    assert NEW not in str(event.details) + str(event.changes)


def test_a_short_new_password_is_refused_in_place(client: Client) -> None:
    user = UserFactory(role="viewer")
    client.force_login(user)

    response = change(client, PASSWORD, "short pass")

    html = response.content.decode()
    assert response.status_code == 200
    assert "field-invalid" in html and "This password is too short" in html
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert not AuditEvent.objects.filter(action="auth.password_changed").exists()


def test_the_page_needs_a_sign_in(client: Client) -> None:
    response = client.get(reverse("password-change"))

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))

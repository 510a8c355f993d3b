"""Enrolling an authenticator at /account/mfa/, and admins made to when
POSTURE_REQUIRE_MFA_ADMINS is on."""

from __future__ import annotations

import re
from base64 import b32decode

import pytest
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from tests.accounts.totp import code, enrolled, wrong_code
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

KEY = re.compile(r'<img src="(data:[^"]+)".*<code>([A-Z2-7 ]+)</code>', re.S)
INLINE = re.compile(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=", re.I)


def test_the_page_shows_a_qr_code_and_the_key_without_inline_code(client: Client) -> None:
    user = UserFactory(role="viewer")
    client.force_login(user)

    response = client.get(reverse("mfa"))

    html = response.content.decode()
    device = TOTPDevice.objects.get(user=user)
    assert response.status_code == 200
    assert not device.confirmed
    assert '<img src="data:image/svg+xml' in html
    shown = re.search(r"<code>([A-Z2-7 ]+)</code>", html)
    assert shown
    key = shown.group(1).replace(" ", "")
    assert b32decode(key + "=" * (-len(key) % 8)) == device.bin_key
    assert not INLINE.search(html)
    assert "no-store" in response["Cache-Control"]


def test_reloading_the_page_keeps_the_key_being_enrolled(client: Client) -> None:
    client.force_login(UserFactory(role="viewer"))

    first = KEY.search(client.get(reverse("mfa")).content.decode())
    second = KEY.search(client.get(reverse("mfa")).content.decode())

    assert first and second and first.groups() == second.groups()
    assert TOTPDevice.objects.count() == 1


def test_a_wrong_code_leaves_the_authenticator_unconfirmed(client: Client) -> None:
    user = UserFactory(role="viewer")
    client.force_login(user)
    client.get(reverse("mfa"))
    device = TOTPDevice.objects.get(user=user)

    response = client.post(reverse("mfa"), {"token": wrong_code(device)})

    assert response.status_code == 200
    assert "This code is not valid" in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    assert not AuditEvent.objects.filter(action="auth.mfa_enrolled").exists()


def test_the_right_code_enrolls_and_the_next_sign_in_asks_for_a_code(client: Client) -> None:
    user = UserFactory(role="viewer")
    client.force_login(user)
    client.get(reverse("mfa"))
    device = TOTPDevice.objects.get(user=user)

    response = client.post(reverse("mfa"), {"token": code(device)})

    assert response.status_code == 302 and response["Location"] == reverse("account")
    device.refresh_from_db()
    assert device.confirmed
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    event = AuditEvent.objects.get(action="auth.mfa_enrolled")
    assert event.actor_id == user.pk and device.key not in str(event.details)
    account = client.get(reverse("account")).content.decode()
    assert "Two-factor sign-in" in account

    client.logout()
    login = reverse("login")
    refused = client.post(login, {"username": user.username, "password": PASSWORD})
    accepted = client.post(
        login,
        {"username": user.username, "password": PASSWORD, "otp_token": code(device, 1)},
    )

    assert refused.status_code == 200
    assert "Enter the code" in refused.content.decode()
    assert accepted.status_code == 302
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id


def test_a_code_cannot_be_used_twice(client: Client) -> None:
    user = UserFactory(role="viewer")
    device = enrolled(user)
    first = code(device)
    login = reverse("login")

    once = client.post(login, {"username": user.username, "password": PASSWORD, "otp_token": first})
    client.logout()
    twice = client.post(
        login, {"username": user.username, "password": PASSWORD, "otp_token": first}
    )

    assert once.status_code == 302
    assert twice.status_code == 200
    assert "_auth_user_id" not in client.session


@pytest.fixture
def require_mfa(settings) -> None:
    settings.POSTURE_REQUIRE_MFA_ADMINS = True


@pytest.mark.usefixtures("require_mfa")
def test_an_admin_without_a_second_factor_is_sent_to_enroll(client: Client) -> None:
    admin = UserFactory()
    client.force_login(admin)

    fleet = client.get(reverse("fleet"))
    fragment = client.get(reverse("fleet"), headers={"HX-Request": "true"})
    users = client.get(reverse("users"))
    enroll = client.get(reverse("mfa"))

    assert fleet.status_code == 302 and fleet["Location"] == reverse("mfa")
    assert fragment["HX-Redirect"] == reverse("mfa")
    assert users.status_code == 302
    assert enroll.status_code == 200
    assert "Administrators must turn on two-factor sign-in" in enroll.content.decode()

    device = TOTPDevice.objects.get(user=admin)
    client.post(reverse("mfa"), {"token": code(device)})

    assert client.get(reverse("fleet")).status_code == 200


@pytest.mark.usefixtures("require_mfa")
def test_an_enrolled_admin_in_an_unverified_session_verifies_it_with_a_code(
    client: Client,
) -> None:
    admin = UserFactory()
    device = enrolled(admin)
    client.force_login(admin)  # a session opened without the code

    assert client.get(reverse("fleet"))["Location"] == reverse("mfa")
    page = client.get(reverse("mfa")).content.decode()
    assert "Type the code your app shows now" in page

    client.post(reverse("mfa"), {"token": code(device)})

    assert client.get(reverse("fleet")).status_code == 200


@pytest.mark.usefixtures("require_mfa")
def test_other_roles_are_not_made_to_enroll(client: Client) -> None:
    client.force_login(UserFactory(role="operator"))

    assert client.get(reverse("fleet")).status_code == 200


def test_without_the_setting_admins_are_not_made_to_enroll(client: Client) -> None:
    client.force_login(UserFactory())

    assert client.get(reverse("fleet")).status_code == 200


def test_an_admin_turns_off_a_lost_authenticator(client: Client) -> None:
    person = UserFactory(role="viewer")
    enrolled(person)
    client.force_login(UserFactory())

    response = client.post(reverse("user-edit", args=[person.pk]), {"action": "remove-mfa"})

    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=person).exists()
    event = AuditEvent.objects.get(action="user.updated")
    assert event.changes == {"mfa": [True, False]}

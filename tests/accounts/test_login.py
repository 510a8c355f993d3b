"""Signing in: throttled and locked per username and address (django-axes), and with the
authenticator's code for those who enrolled one (django-otp)."""

from __future__ import annotations

import importlib.util

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY

from audit.models import AuditEvent
from tests.accounts.totp import code, enrolled, wrong_code
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LIMIT = 5  # POSTURE_LOGIN_FAILURES' default


def sign_in(client: Client, username: str, password: str, **extra: str):
    data = {"username": username, "password": password, **extra}
    return client.post(reverse("login"), data)


def test_the_settings_are_the_documented_defaults(settings) -> None:
    assert settings.AXES_FAILURE_LIMIT == LIMIT
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]
    assert settings.MIDDLEWARE[-1] == "axes.middleware.AxesMiddleware"


def test_a_right_password_signs_in(client: Client) -> None:
    user = UserFactory()

    response = sign_in(client, user.username, PASSWORD)

    assert response.status_code == 302 and response["Location"] == reverse("fleet")


def test_the_nth_failure_locks_the_username_from_that_address(client: Client) -> None:
    """GIVEN an account WHEN its password is mistyped LIMIT times from one address THEN the
    last attempt and the right password after it get the locked-out page, while the same
    account from another address and another account from this one still sign in."""
    user, other = UserFactory(), UserFactory()

    answers = [sign_in(client, user.username, "not the password").status_code for _ in range(LIMIT)]
    locked = sign_in(client, user.username, PASSWORD)

    assert answers == [200] * (LIMIT - 1) + [429]
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Too many failed sign-ins" in page and "Try again in 15 minutes" in page
    assert "_auth_user_id" not in client.session
    elsewhere = Client(REMOTE_ADDR="192.0.2.7")
    assert sign_in(elsewhere, user.username, PASSWORD).status_code == 302
    assert sign_in(Client(), other.username, PASSWORD).status_code == 302


def test_a_success_forgets_earlier_failures(client: Client) -> None:
    user = UserFactory()
    for _ in range(LIMIT - 1):
        sign_in(client, user.username, "not the password")

    assert sign_in(client, user.username, PASSWORD).status_code == 302
    client.logout()
    answers = [sign_in(client, user.username, "nope").status_code for _ in range(LIMIT - 1)]

    assert answers == [200] * (LIMIT - 1)
    assert sign_in(client, user.username, PASSWORD).status_code == 302


def test_the_limit_follows_the_setting(client: Client, settings) -> None:
    settings.AXES_FAILURE_LIMIT = 2
    user = UserFactory()

    answers = [sign_in(client, user.username, "nope").status_code for _ in range(2)]

    assert answers == [200, 429]


@pytest.mark.skipif(
    importlib.util.find_spec("audit.receivers") is None, reason="no audit receivers yet"
)
def test_a_lock_out_is_in_the_audit_trail(client: Client) -> None:
    user = UserFactory()

    for _ in range(LIMIT):
        sign_in(client, user.username, "not the password")

    assert AuditEvent.objects.filter(action="auth.login_failed").count() == LIMIT
    locked = AuditEvent.objects.get(action="auth.locked_out")
    assert locked.details["username"] == user.username
    assert "not the password" not in str(list(AuditEvent.objects.values()))


def test_the_password_is_not_kept_with_the_failed_attempt(client: Client) -> None:
    user = UserFactory()

    sign_in(client, user.username, "hunter2-typed-by-mistake")

    attempt = AccessAttempt.objects.get()
    assert "hunter2-typed-by-mistake" not in attempt.post_data


def test_an_enrolled_account_needs_its_code(client: Client) -> None:
    user = UserFactory(role="viewer")
    device = enrolled(user)

    without = sign_in(client, user.username, PASSWORD)

    assert without.status_code == 200
    assert "Enter the code from your authenticator app" in without.content.decode()
    assert "_auth_user_id" not in client.session

    with_code = sign_in(client, user.username, PASSWORD, otp_token=code(device))

    assert with_code.status_code == 302 and with_code["Location"] == reverse("fleet")
    # The session remembers it was verified by the second factor.
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id


def test_a_wrong_code_is_refused_and_counts_as_a_failure(client: Client) -> None:
    user = UserFactory(role="viewer")
    device = enrolled(user)

    response = sign_in(client, user.username, PASSWORD, otp_token=wrong_code(device))

    assert response.status_code == 200
    assert "This code is not valid" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert AccessAttempt.objects.get().failures_since_start == 1


def test_a_code_is_not_asked_of_accounts_without_an_authenticator(client: Client) -> None:
    user = UserFactory(role="viewer")

    page = client.get(reverse("login"))
    response = sign_in(client, user.username, PASSWORD, otp_token="")

    assert 'name="otp_token"' in page.content.decode()
    assert response.status_code == 302
    assert DEVICE_ID_SESSION_KEY not in client.session


def test_the_admin_site_signs_in_through_the_same_form(client: Client) -> None:
    """Django's own admin login page knows nothing of the second factor."""
    admin = UserFactory(is_staff=True, is_superuser=True)
    device = enrolled(admin)
    url = reverse("admin:login") + "?next=/admin/"

    page = client.get(url)
    without = client.post(url, {"username": admin.username, "password": PASSWORD})
    with_code = client.post(
        url, {"username": admin.username, "password": PASSWORD, "otp_token": code(device)}
    )

    assert 'name="otp_token"' in page.content.decode()
    assert without.status_code == 200
    assert with_code.status_code == 302 and with_code["Location"] == "/admin/"


def test_an_admin_lifts_a_lock_from_the_account_page(client: Client) -> None:
    user = UserFactory(role="viewer")
    for _ in range(LIMIT):
        sign_in(client, user.username, "not the password")
    admin = Client()
    admin.force_login(UserFactory())
    page = reverse("user-edit", args=[user.pk])

    offered = admin.get(page).content.decode()
    lifted = admin.post(page, {"action": "unlock"})

    assert "Lift the sign-in lock" in offered
    assert lifted.status_code == 302
    assert "Lift the sign-in lock" not in admin.get(page).content.decode()
    assert sign_in(client, user.username, PASSWORD).status_code == 302
    assert AuditEvent.objects.get(action="user.updated").details == {"unlocked": 1}

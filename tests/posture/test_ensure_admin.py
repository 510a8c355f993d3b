"""`manage.py ensure_admin`: the embedded mode's first login, never a known password."""

from __future__ import annotations

import stat
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.test import RequestFactory

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

# django-axes checks every authenticate() for a lock-out, by the request's address.
SIGN_IN = RequestFactory().post("/login/")


def ensure_admin(path: Path, *args: str) -> str:
    out = StringIO()
    call_command("ensure_admin", "--password-file", str(path), *args, stdout=out)
    return out.getvalue()


def test_creates_a_superuser_whose_random_password_is_in_a_private_file(tmp_path: Path):
    path = tmp_path / "secrets" / "admin-password"

    output = ensure_admin(path)

    password = path.read_text().strip()
    admin = get_user_model().objects.get(username="admin")
    assert output.strip() == "created admin"
    assert admin.is_superuser and admin.is_staff
    assert authenticate(SIGN_IN, username="admin", password=password) == admin
    assert len(password) >= 16
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert password not in output  # not in the logs either


def test_two_installs_get_two_passwords(tmp_path: Path):
    ensure_admin(tmp_path / "first")
    get_user_model().objects.all().delete()
    ensure_admin(tmp_path / "second")

    assert (tmp_path / "first").read_text() != (tmp_path / "second").read_text()


def test_an_existing_admin_keeps_its_password_and_the_file_says_so(tmp_path: Path):
    UserFactory(username="admin")
    path = tmp_path / "admin-password"

    output = ensure_admin(path)

    assert output == ""
    assert authenticate(SIGN_IN, username="admin", password=PASSWORD) is not None
    assert "unchanged" in path.read_text()
    assert get_user_model().objects.count() == 1


def test_a_rerun_leaves_the_first_password_in_place(tmp_path: Path):
    path = tmp_path / "admin-password"
    ensure_admin(path)
    first = path.read_text()

    ensure_admin(path)

    assert path.read_text() == first
    assert authenticate(SIGN_IN, username="admin", password=first.strip()) is not None


def test_another_username(tmp_path: Path):
    ensure_admin(tmp_path / "pw", "--username", "root")

    assert get_user_model().objects.get().username == "root"


def test_the_password_file_is_required():
    with pytest.raises(CommandError, match="password-file"):
        call_command("ensure_admin")

"""Sessions end POSTURE_SESSION_IDLE_MINUTES after the last request (not after the login),
and sliding the expiry costs one write a minute per user, not one per request."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from posture.middleware import REFRESHED_KEY
from tests.factories import PASSWORD, UserFactory

ROOT = Path(__file__).resolve().parents[2]


def settings_value(name: str, **env: str) -> subprocess.CompletedProcess[str]:
    code = (
        f"import django; django.setup(); from django.conf import settings; print(settings.{name})"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "posture.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_idle_limit_comes_from_the_environment() -> None:
    assert settings.SESSION_COOKIE_AGE == 60 * 60
    assert settings_value("SESSION_COOKIE_AGE", POSTURE_SESSION_IDLE_MINUTES="15").stdout == "900\n"
    refused = settings_value("SESSION_COOKIE_AGE", POSTURE_SESSION_IDLE_MINUTES="1")
    assert refused.returncode != 0
    assert "POSTURE_SESSION_IDLE_MINUTES must be at least 5" in refused.stderr


@pytest.fixture
def signed_in(client: Client, db: None) -> Client:
    """Signed in through the login page, as a person is."""
    user = UserFactory()
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    return client


def session_row(client: Client) -> Session:
    return Session.objects.get(session_key=client.session.session_key)


def age_session(client: Client, *, refreshed_seconds_ago: int, expires_in: timedelta) -> None:
    """Time travel: the session was last refreshed and expires when the test says."""
    key = client.session.session_key
    store = SessionStore(session_key=key)
    store[REFRESHED_KEY] = int(time.time()) - refreshed_seconds_ago
    store.save()
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() + expires_in)


def test_a_session_idle_past_its_limit_goes_to_login(signed_in: Client) -> None:
    assert signed_in.get(reverse("fleet")).status_code == 200
    age_session(signed_in, refreshed_seconds_ago=3601, expires_in=timedelta(seconds=-1))

    response = signed_in.get(reverse("fleet"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_request_slides_the_expiry_forward(signed_in: Client) -> None:
    age_session(signed_in, refreshed_seconds_ago=120, expires_in=timedelta(seconds=30))

    assert signed_in.get(reverse("fleet")).status_code == 200

    left = session_row(signed_in).expire_date - timezone.now()
    assert timedelta(minutes=59) < left <= timedelta(minutes=60)
    cookie = signed_in.cookies[settings.SESSION_COOKIE_NAME]
    assert int(cookie["max-age"]) == settings.SESSION_COOKIE_AGE


def session_writes(client: Client) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(reverse("fleet")).status_code == 200
    return [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("UPDATE")]


def test_sliding_costs_one_write_a_minute_not_one_a_request(signed_in: Client) -> None:
    # Just signed in: the login started the clock, nothing to write.
    assert session_writes(signed_in) == []
    assert session_writes(signed_in) == []

    age_session(signed_in, refreshed_seconds_ago=61, expires_in=timedelta(minutes=59))
    writes = session_writes(signed_in)

    assert len(writes) == 1 and "django_session" in writes[0]
    assert session_writes(signed_in) == []


def test_force_login_starts_the_clock_too(client: Client, db: None) -> None:
    """The login signal, not the login page, stamps the session: tests' query counts do not
    pay for a refresh on their first request."""
    client.force_login(UserFactory())
    assert REFRESHED_KEY in client.session
    assert session_writes(client) == []


def test_signing_out_leaves_nothing_to_refresh(signed_in: Client) -> None:
    signed_in.post(reverse("logout"))
    assert not Session.objects.exists()

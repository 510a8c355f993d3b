"""/readyz says which dependency is down; the database's outage itself (a 503 page) is
proven against a real PostgreSQL restart in tests/system/faults/test_database_outage.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client

from lab.process import free_port
from posture.celery import app
from tests.factories import HostPostureFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_down() -> Iterator[None]:
    """The app pointed at a Redis address where nothing listens (a real refused connection)."""
    previous = app.conf.broker_url
    app.conf.broker_url = f"redis://127.0.0.1:{free_port('127.0.0.1')}/0"
    app._pool = None
    try:
        yield
    finally:
        app.conf.broker_url = previous
        app._pool = None


def test_ready_when_database_and_broker_answer(client: Client) -> None:
    HostPostureFactory(host__name="pay-1")  # data that must not leak into the answer

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok"}
    assert not response.cookies
    assert b"pay-1" not in response.content


def test_names_the_broker_when_it_is_down(client: Client, broker_down: None) -> None:
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"database": "ok", "broker": "down"}

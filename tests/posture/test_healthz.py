"""/healthz: the liveness probe of the container health checks."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.factories import HostPostureFactory

pytestmark = pytest.mark.django_db


def test_answers_ok_without_a_login_and_reveals_nothing(
    client: Client, django_assert_num_queries: Any
):
    HostPostureFactory(host__name="pay-1")  # data that must not leak into the answer

    with django_assert_num_queries(0):
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.content == b"ok"
    assert response["Content-Type"].startswith("text/plain")
    # No session or CSRF cookie: the probe leaves nothing behind and learns nothing.
    assert not response.cookies


def test_other_pages_still_need_a_login(client: Client):
    assert client.get("/").status_code == 302

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import UserFactory


@pytest.fixture
def admin_client(client: Client, db: None) -> Client:
    client.force_login(UserFactory(username="root"))
    return client

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from accounts.models import Preference
from tests.factories import UserFactory


def user_with(language: str) -> User:
    user = UserFactory()
    Preference.objects.create(user=user, language=language)
    return user


@pytest.fixture
def french_client(client: Client) -> Client:
    client.force_login(user_with("fr"))
    return client


@pytest.fixture
def english_client(client: Client) -> Client:
    client.force_login(user_with("en"))
    return client

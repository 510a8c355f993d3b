from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.factories import UserFactory


@pytest.fixture
def user_client(client: Client) -> Client:
    client.force_login(UserFactory())
    return client


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    """An aware datetime on a local day: trends count days in TIME_ZONE."""
    return datetime.combine(day, time(hour, minute), tzinfo=timezone.get_current_timezone())


def days_ago(n: int) -> date:
    return timezone.localdate() - timedelta(days=n)

"""Alerts are proved end to end: scans finished through findings.store (or a real scan of the
lab daemon), the scan_finished seam, the Celery task run eagerly, mail over real SMTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from alerts.models import Subscription
from hosts.models import Host
from posture.celery import app
from tests.alerts.helpers import BASE_URL, Scans
from tests.factories import HostFactory, UserFactory


@pytest.fixture(autouse=True)
def alert_settings(settings: Any) -> None:
    settings.POSTURE_BASE_URL = BASE_URL
    settings.POSTURE_ALERTS = {
        "SCORE_DROP": 10,
        "FAILURES": 3,
        "RATE_LIMIT_PER_HOUR": 20,
        "DIGEST_HOUR": 8,
    }


@pytest.fixture(autouse=True)
def eager_celery() -> Iterator[None]:
    # Tasks run in the caller, as a worker would run them, without a broker to set up.
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def host(db: None) -> Host:
    return HostFactory(name="pay-1", labels={"team": "payments", "env": "prod"})


@pytest.fixture
def subscriber(db: None) -> Any:
    user = UserFactory(username="ops", email="ops@example.org")
    Subscription.objects.create(user=user, scope=Subscription.Scope.ALL, min_severity=3)
    return user


@pytest.fixture
def scans(django_capture_on_commit_callbacks: Any) -> Scans:
    return Scans(django_capture_on_commit_callbacks)

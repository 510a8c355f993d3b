"""A Redis of each fault test's own: the tests stop it, restart it empty, and run workers
that must take only their own messages (a shared lab Redis carries other runs' workers)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from lab.process import free_port
from lab.services import LabRedis
from posture.celery import app
from tests.conftest import _use_broker


@pytest.fixture
def own_redis() -> Iterator[LabRedis]:
    name = f"faults-redis-{os.getpid()}"
    redis = LabRedis(name, port=free_port()).start()
    try:
        yield redis
    finally:
        redis.stop()


@pytest.fixture
def broker(own_redis: LabRedis) -> Iterator[str]:
    """Overrides the suite's `broker`: the test process sends to the test's own Redis too."""
    previous = app.conf.broker_url, app.conf.broker_transport_options
    _use_broker(own_redis.url, {"visibility_timeout": 300})
    try:
        yield own_redis.url
    finally:
        _use_broker(*previous)

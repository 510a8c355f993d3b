"""A fleet of real dockerds (lab.fleet) registered as hosts, and a real Celery worker
on the lab Redis to scan them.

The fleet is session-wide: one an earlier run left running is adopted and left running;
one started here is stopped at the end unless POSTURE_LAB_KEEP=1.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.db import connections

from hosts.models import Host
from lab.fleet import LabFleet
from lab.process import running
from posture.celery import app
from tests.factories import HostFactory

# Four scans in flight: enough that a slow or failing host cannot hold the others up,
# few enough for two cores also running ten dockerds.
WORKER_THREADS = 4


@pytest.fixture(scope="session")
def fleet() -> Iterator[LabFleet]:
    with running(LabFleet("test-fleet")) as lab_fleet:
        yield lab_fleet


def _close_thread_connections(**_: object) -> None:
    # Each pool thread opens its own database connection; closing it after every task keeps
    # them from outliving the test (PostgreSQL refuses to drop a test database in use).
    connections.close_all()


@pytest.fixture
def quick_retries(settings: Any) -> dict[str, int]:
    """The product's attempts for transient errors, with backoffs of a second or two.

    The stopped host is retried as in production (the count is what is checked); only the
    15 s+ waits between attempts would dominate the run time.
    """
    settings.POSTURE_SCAN = {**settings.POSTURE_SCAN, "RETRY_BASE": 1, "RETRY_CAP": 2}
    return dict(settings.POSTURE_SCAN)


@pytest.fixture
def worker(broker: str, quick_retries: dict[str, int]) -> Iterator[None]:
    task_postrun.connect(_close_thread_connections, weak=False)
    try:
        with start_worker(
            app,
            pool="threads",
            concurrency=WORKER_THREADS,
            perform_ping_check=False,
            shutdown_timeout=60,
        ):
            yield
    finally:
        task_postrun.disconnect(_close_thread_connections)


@pytest.fixture
def fleet_hosts(fleet: LabFleet, transactional_db: None) -> dict[str, Host]:
    """Every fleet member as a Host row with its credentials (keys stored encrypted)."""
    return {name: HostFactory.for_lab_member(member) for name, member in fleet.hosts.items()}

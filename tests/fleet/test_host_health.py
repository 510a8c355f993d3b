"""Host health on the fleet page: failure streaks, last success, and stale data."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from findings.models import HostPosture
from hosts.models import Host

pytestmark = pytest.mark.django_db


def make(name: str, *, success_ago: timedelta | None, error: str = "", failures: int = 0) -> Host:
    host = Host.objects.create(name=name, endpoint="unix:///tmp/none.sock", scan_interval=10)
    now = timezone.now()
    HostPosture.objects.create(
        host=host,
        score=80 if success_ago is not None else None,
        grade="B" if success_ago is not None else "",
        last_success_at=now - success_ago if success_ago is not None else None,
        last_attempt_at=now,
        last_error_class=error,
        consecutive_failures=failures,
    )
    return host


@pytest.fixture
def fleet() -> None:
    make("fresh", success_ago=timedelta(minutes=5))
    make("old", success_ago=timedelta(minutes=45))  # > 3 intervals of 10 minutes
    make("down", success_ago=timedelta(hours=2), error="unreachable", failures=7)
    make("flaky", success_ago=timedelta(minutes=12), error="timeout", failures=1)


def names(client: Client, query: str) -> set[str]:
    page = client.get(f"/?{query}").content.decode()
    return {n for n in ("fresh", "old", "down", "flaky") if f">{n}</a>" in page}


def test_stale_filter_and_counter_follow_each_hosts_interval(admin_client: Client, fleet: None):
    assert names(admin_client, "status=stale") == {"old", "down"}
    assert names(admin_client, "status=ok") == {"fresh"}
    page = admin_client.get("/").content.decode()
    assert "?status=stale" in page and "<strong>2</strong> stale" in page


def test_stale_threshold_is_configurable(admin_client: Client, fleet: None, settings) -> None:
    settings.POSTURE_SCAN = {**settings.POSTURE_SCAN, "STALE_AFTER_INTERVALS": 5}
    assert names(admin_client, "status=stale") == {"down"}


def test_failure_streak_and_last_good_data_are_shown(admin_client: Client, fleet: None) -> None:
    page = admin_client.get("/?q=down").content.decode()
    assert "7 failures in a row" in page
    assert "tag-stale" in page
    assert "as of 2" in page and "hours ago" in page  # the score shown is the last good one
    flaky = admin_client.get("/?q=flaky").content.decode()
    assert "in a row" not in flaky and "tag-stale" not in flaky

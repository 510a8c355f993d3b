"""The beat task: exceptions that expired since its last run get their hosts rescanned, once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.utils import timezone

from policy import exceptions as services
from policy import tasks
from scans.models import ScanRun
from tests.factories import FindingFactory, HostFactory, RiskExceptionFactory
from tests.policy.exception_helpers import CONTAINER_RULE

pytestmark = pytest.mark.django_db


def test_beat_runs_the_task() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["expire-exceptions"]
    assert entry["task"] == tasks.expire_exceptions.name


def test_expired_exception_rescans_its_hosts_once(django_capture_on_commit_callbacks: Any) -> None:
    """GIVEN an exception that accepted findings on two hosts and has just expired, one still
    in force elsewhere, and a paused host
    WHEN the beat task runs twice
    THEN the two hosts are scanned once each, and nothing else is."""
    expired = RiskExceptionFactory(container_pattern="payments-*", days=-1)
    current = RiskExceptionFactory(container_pattern="web-*")
    hosts = [HostFactory(name=f"pay-{n}") for n in (1, 2)]
    for host in hosts:
        FindingFactory(host=host, rule_id=CONTAINER_RULE, accepted=True, exception=expired)
    FindingFactory(host=HostFactory(name="web-1"), accepted=True, exception=current)
    paused = HostFactory(name="pay-paused", enabled=False)
    FindingFactory(host=paused, accepted=True, exception=expired)

    with (
        mock.patch("scans.tasks.scan_host.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert tasks.expire_exceptions() == 2
        assert tasks.expire_exceptions() == 0

    scans = ScanRun.objects.order_by("host__name")
    assert [s.host.name for s in scans] == ["pay-1", "pay-2"]
    assert {s.trigger for s in scans} == {ScanRun.Trigger.EXCEPTION}
    assert sorted(c.args[0] for c in delay.call_args_list) == sorted(s.pk for s in scans)
    expired.refresh_from_db()
    assert expired.expiry_handled_at is not None


def test_a_later_run_catches_up_on_what_expired_meanwhile() -> None:
    host = HostFactory()
    exc = RiskExceptionFactory(host=host, days=1)
    FindingFactory(host=host, accepted=True, exception=exc)
    with mock.patch("scans.tasks.scan_host.delay"):
        assert services.queue_expired() == 0
        assert services.queue_expired(timezone.now() + timedelta(days=2)) == 1


def test_revoked_exceptions_are_not_expiries() -> None:
    host = HostFactory()
    exc = RiskExceptionFactory(host=host, days=-1)
    exc.revoked_at = timezone.now() - timedelta(days=2)
    exc.save()
    FindingFactory(host=host, accepted=True, exception=exc)
    assert services.queue_expired() == 0
    assert not ScanRun.objects.exists()

"""Held messages go out later as one digest: digest subscribers, quiet hours, and the
per-subscriber rate limit that folds a fleet-wide burst into one mail."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from alerts import services
from alerts.models import Notification, Subscription
from hosts.models import Host
from lab.smtp import LabSmtp
from tests.alerts.helpers import Scans, privileged, text_part
from tests.factories import HostFactory, UserFactory

pytestmark = pytest.mark.django_db
Status = Notification.Status


def test_digest_subscriber_gets_one_digest(host: Host, scans: Scans, lab_smtp: LabSmtp) -> None:
    user = UserFactory(username="lead", email="lead@example.org")
    Subscription.objects.create(
        user=user,
        scope=Subscription.Scope.LABEL,
        label_selector="team=payments",
        delivery=Subscription.Delivery.DIGEST,
        time_zone="Europe/Paris",
    )
    other = HostFactory(name="web-1", labels={"team": "web"})
    scans.success(host, opened=[privileged("db")])
    scans.success(other, opened=[privileged("not-mine")])
    scans.failure(host)
    scans.failure(host)
    scans.failure(host)

    assert services.send_due() == 0  # before 08:00 Paris time comes round
    assert lab_smtp.messages == []
    held = Notification.objects.get(user=user, kind="finding")
    assert held.status == Status.HELD and held.held_reason == "digest"
    assert held.release_at is not None
    local = held.release_at.astimezone(ZoneInfo("Europe/Paris"))
    assert (local.hour, local.minute) == (8, 0)

    assert services.send_due(held.release_at + timedelta(minutes=1)) == 1
    [digest] = lab_smtp.wait_for(1)
    assert digest["To"] == "lead@example.org"
    assert "2 changes in your fleet" in digest["Subject"]
    text = text_part(digest)
    assert "CTR-PRIVILEGED on db" in text and "not-mine" not in text
    assert "HostConfig.Privileged = true" in text
    assert "pay-1 failed its last 3 scans" in text
    assert set(Notification.objects.filter(user=user).values_list("status", flat=True)) == {
        Status.SENT,  # the digest
        Status.FOLDED,  # what it carried
    }
    assert services.send_due(held.release_at + timedelta(hours=1)) == 0  # nothing twice


def test_rate_limit_folds_a_fleet_wide_burst_into_a_digest(
    scans: Scans, subscriber: Any, lab_smtp: LabSmtp, settings: Any
) -> None:
    """GIVEN a subscriber to all hosts with a limit of 5 mails an hour
    WHEN the same critical finding appears on 50 hosts at once
    THEN 5 mails go out, the other 45 regressions arrive later as one digest."""
    settings.POSTURE_ALERTS = {**settings.POSTURE_ALERTS, "RATE_LIMIT_PER_HOUR": 5}
    for n in range(50):
        scans.success(HostFactory(name=f"node-{n:02d}"), opened=[privileged("agent")])

    assert len(lab_smtp.wait_for(5)) == 5
    held = Notification.objects.filter(status=Status.HELD, held_reason="rate")
    assert held.count() == 45
    assert services.send_due() == 0

    later = timezone.now() + timedelta(hours=1, minutes=1)
    assert services.send_due(later) == 1
    digest = lab_smtp.wait_for(6)[5]
    assert "45 changes in your fleet" in digest["Subject"]
    assert text_part(digest).count("CTR-PRIVILEGED on agent") == 45
    assert len(lab_smtp.messages) == 6


def test_quiet_hours_hold_then_send_as_digest(host: Host, scans: Scans, lab_smtp: LabSmtp) -> None:
    user = UserFactory(username="night", email="night@example.org")
    now = timezone.now().astimezone(ZoneInfo("UTC"))
    start = (now - timedelta(hours=1)).time().replace(second=0, microsecond=0)
    end = (now + timedelta(hours=1)).time().replace(second=0, microsecond=0)
    Subscription.objects.create(user=user, quiet_start=start, quiet_end=end, time_zone="UTC")

    scans.success(host, opened=[privileged("web")])

    assert lab_smtp.messages == []
    held = Notification.objects.get(user=user)
    assert held.held_reason == "quiet"
    assert held.release_at is not None
    assert held.release_at.time().replace(tzinfo=None) == time(end.hour, end.minute)
    assert services.send_due(held.release_at) == 1
    [digest] = lab_smtp.wait_for(1)
    assert "1 change in your fleet" in digest["Subject"]

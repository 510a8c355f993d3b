"""A subscription to one host (the host page's "Alert me") hears of that host only, and
goes with it when the host is deleted."""

from __future__ import annotations

import pytest

from alerts.models import Notification, Subscription
from hosts.models import Host
from lab.smtp import LabSmtp
from tests.alerts.helpers import Scans, privileged
from tests.factories import HostFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_one_host_is_told_about_and_no_other(host: Host, scans: Scans, lab_smtp: LabSmtp) -> None:
    other = HostFactory(name="pay-2", labels={"team": "payments"})
    user = UserFactory(username="ops", email="ops@example.org")
    Subscription.objects.create(user=user, scope=Subscription.Scope.HOST, host=other)

    scans.success(host, opened=[privileged("web")])
    scans.success(other, opened=[privileged("db")])

    [mail] = lab_smtp.wait_for(1)
    assert "pay-2" in mail["Subject"] and "pay-1" not in mail["Subject"]
    assert Notification.objects.get().event.regression.host == other  # type: ignore[union-attr]

    other.delete()
    assert not Subscription.objects.exists()

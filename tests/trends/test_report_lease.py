"""A report whose worker died after its claim is sent again once the claim's lease is over,
with the Message-ID the first copy would have carried; a claim inside its lease is not."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lab.smtp import LabSmtp
from tests.trends.test_report_email import MONDAY, subscription  # noqa: F401 - a fixture
from trends import services
from trends.models import ReportSubscription

pytestmark = pytest.mark.django_db


def test_a_report_claimed_by_a_dead_worker_is_sent_after_the_lease(
    lab_smtp: LabSmtp,
    subscription: ReportSubscription,  # noqa: F811
) -> None:
    # The worker claimed the week and was killed before SMTP took the mail.
    assert services.claim(subscription, "2025-W11", MONDAY)
    assert services.send_due_reports(MONDAY + timedelta(minutes=5)) == 0  # inside the lease
    assert services.send_due_reports(MONDAY + timedelta(minutes=11)) == 1
    [mail] = lab_smtp.wait_for(1)
    assert mail["Message-ID"] == services.message_id(subscription, "2025-W11")
    subscription.refresh_from_db()
    assert subscription.sending_since is None
    assert services.send_due_reports(MONDAY + timedelta(hours=2)) == 0  # sent: once
    assert len(lab_smtp.messages) == 1


def test_a_sent_report_is_not_claimed_again(
    lab_smtp: LabSmtp,
    subscription: ReportSubscription,  # noqa: F811
) -> None:
    assert services.send_due_reports(MONDAY) == 1
    subscription.refresh_from_db()
    assert (subscription.last_sent_period, subscription.sending_since) == ("2025-W11", None)
    assert services.send_due_reports(MONDAY + timedelta(hours=1)) == 0

"""The scheduled report arrives over real SMTP, readable without SVG or scripts, once per
period per subscription."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest
from django.utils import timezone

from lab.smtp import LabSmtp
from rules import Severity
from tests.factories import FindingFactory, HostFactory, ScoreSampleFactory, UserFactory
from tests.trends.conftest import at
from trends import services
from trends.models import ReportSubscription

pytestmark = pytest.mark.django_db

MONDAY = datetime.combine(date(2025, 3, 17), time(6), tzinfo=timezone.get_current_timezone())


@pytest.fixture
def subscription() -> ReportSubscription:
    host = HostFactory(name="pay-1", labels={"team": "payments"})
    ScoreSampleFactory(host=host, taken_at=at(date(2025, 3, 12)), score=72, grade="C")
    ScoreSampleFactory(host=host, taken_at=at(date(2025, 3, 5)), score=70, grade="C")
    FindingFactory(host=host, severity=Severity.CRITICAL, opened_at=at(date(2025, 2, 1)))
    user = UserFactory(username="manager", email="manager@example.org")
    return ReportSubscription.objects.create(user=user, period="week", team="payments")


def test_weekly_report_arrives_with_text_html_and_inline_png(
    lab_smtp: LabSmtp, subscription: ReportSubscription, settings
):
    settings.POSTURE_BASE_URL = "https://posture.example.org"

    assert services.send_due_reports(MONDAY) == 1
    [message] = lab_smtp.wait_for(1)

    assert message["To"] == "manager@example.org"
    assert message["Subject"] == "Posture report 2025-W11 for team payments: 72.0 (+2.0)"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "72.0 / 100" in text
    assert "https://posture.example.org/hosts/pay-1/" in text
    assert "https://posture.example.org/reports/?period=week&team=payments" in text
    assert 'src="cid:score-chart"' in html and 'src="cid:grade-chart"' in html
    assert "<script" not in html and "<svg" not in html
    images = {
        part["Content-ID"]: part.get_content()
        for part in message.walk()
        if part.get_content_type() == "image/png"
    }
    assert set(images) == {"<score-chart>", "<grade-chart>"}
    assert all(data.startswith(b"\x89PNG\r\n\x1a\n") for data in images.values())


def test_a_period_is_sent_once(lab_smtp: LabSmtp, subscription: ReportSubscription):
    assert services.send_due_reports(MONDAY) == 1
    assert services.send_due_reports(MONDAY.replace(hour=7)) == 0
    assert services.send_due_reports(MONDAY.replace(day=23)) == 0  # Sunday: same week due
    lab_smtp.wait_for(1)
    subscription.refresh_from_db()

    assert len(lab_smtp.messages) == 1
    assert subscription.last_sent_period == "2025-W11"
    assert services.send_due_reports(MONDAY.replace(day=24)) == 1  # next Monday
    assert len(lab_smtp.wait_for(2)) == 2


def test_compare_and_set_claim_lets_only_one_worker_send(subscription: ReportSubscription):
    """GIVEN two workers that both read the subscription before either claimed it."""
    first = ReportSubscription.objects.get(pk=subscription.pk)
    second = ReportSubscription.objects.get(pk=subscription.pk)

    assert services.claim(first, "2025-W11", MONDAY) is True
    assert services.claim(second, "2025-W11", MONDAY) is False


def test_a_failed_send_gives_the_claim_back(subscription: ReportSubscription, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", 9, False

    assert services.send_due_reports(MONDAY) == 0
    subscription.refresh_from_db()

    assert subscription.last_sent_period == ""


def test_inactive_subscriptions_and_users_without_email_get_nothing(lab_smtp: LabSmtp):
    ReportSubscription.objects.create(user=UserFactory(), period="month", active=False)
    ReportSubscription.objects.create(user=UserFactory(email=""), period="month")

    assert services.send_due_reports(MONDAY) == 0

"""The scheduled report arrives over real SMTP, readable without SVG or scripts, once per
period per subscription."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

import pytest
from django.utils import timezone

from access.models import Team
from access.services import set_role
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
    assert "https://posture.example.org/reports/?period=week&start=2025-W11&team=payments" in text
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


@pytest.fixture
def two_teams() -> dict[str, Team]:
    """GIVEN a pay host scoring 72 and a web host scoring 20 in the week 2025-W11."""
    for team, score in (("pay", 72), ("web", 20)):
        host = HostFactory(name=f"{team}-box", labels={"team": team})
        ScoreSampleFactory(host=host, taken_at=at(date(2025, 3, 12)), score=score, grade="C")
        FindingFactory(
            host=host,
            severity=Severity.CRITICAL,
            subject_name=f"{team}-critical",
            opened_at=at(date(2025, 2, 1)),
        )
    return {
        "pay": Team.objects.create(name="Payments", label="pay"),
        "web": Team.objects.create(name="Web", label="web"),
    }


def test_a_scoped_subscribers_mail_holds_only_its_teams(
    lab_smtp: LabSmtp, two_teams: dict[str, Team]
) -> None:
    """GIVEN a viewer of team pay subscribed to "all my teams", and an admin to the fleet
    THEN the viewer's report is pay's alone, the admin's the whole fleet's."""
    manager = UserFactory(
        username="pm", email="pm@example.org", role="viewer", role__teams=[two_teams["pay"]]
    )
    ReportSubscription.objects.create(user=manager, period="week", team="")
    admin = UserFactory(username="boss", email="boss@example.org")
    ReportSubscription.objects.create(user=admin, period="week", team="")

    assert services.send_due_reports(MONDAY) == 2
    mails = {m["To"]: m for m in lab_smtp.wait_for(2)}
    mine = mails["pm@example.org"]
    text = mine.get_body(("plain",)).get_content()
    html = mine.get_body(("html",)).get_content()
    assert mine["Subject"] == "Posture report 2025-W11 for your teams: 72.0"
    assert "Your teams: pay" in text
    assert "pay-box" in text and "pay-critical" in text
    assert "web-box" not in text + html and "web-critical" not in text + html
    fleet = mails["boss@example.org"]
    assert fleet["Subject"] == "Posture report 2025-W11 for the fleet: 46.0"
    assert "web-box" in fleet.get_body(("plain",)).get_content()


def test_a_subscriber_moved_out_of_the_team_stops_receiving_it(
    lab_smtp: LabSmtp, two_teams: dict[str, Team]
) -> None:
    """GIVEN an operator of web subscribed to team web's report, then moved to team pay
    THEN no web report is sent (the scope is read at send time), and once given web back
    the mail resumes."""
    operator = UserFactory(
        username="op", email="op@example.org", role="operator", role__teams=[two_teams["web"]]
    )
    subscription = ReportSubscription.objects.create(user=operator, period="week", team="web")
    set_role(operator, "operator", [two_teams["pay"]])

    assert services.send_due_reports(MONDAY) == 0
    assert lab_smtp.messages == []
    subscription.refresh_from_db()
    assert subscription.last_sent_period == ""

    set_role(operator, "operator", [two_teams["pay"], two_teams["web"]])
    assert services.send_due_reports(MONDAY) == 1
    [mail] = lab_smtp.wait_for(1)
    assert mail["Subject"] == "Posture report 2025-W11 for team web: 20.0"


def test_each_subscriber_gets_the_report_of_its_own_teams(
    two_teams: dict[str, Team], settings: Any
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    from django.core import mail

    for name, teams in (("a", ["pay"]), ("b", ["pay"]), ("c", ["web"])):
        user = UserFactory(username=name, role="viewer", role__teams=[two_teams[t] for t in teams])
        ReportSubscription.objects.create(user=user, period="week")

    assert services.send_due_reports(MONDAY) == 3
    subjects = sorted(m.subject for m in mail.outbox)
    assert subjects == [
        "Posture report 2025-W11 for your teams: 20.0",
        "Posture report 2025-W11 for your teams: 72.0",
        "Posture report 2025-W11 for your teams: 72.0",
    ]

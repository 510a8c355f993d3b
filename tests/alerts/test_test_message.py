"""The account page's "Send a test alert message": the mail of a new finding, from the same
templates as a real alert, about the worst finding open in the account's scope (an example
when none is), over real SMTP, marked as a test; nothing is stored."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from alerts.models import Event, Notification, Regression
from alerts.test_message import alert_test_message
from audit.models import AuditEvent
from lab.smtp import LabSmtp
from tests.factories import FindingFactory, HostFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = reverse("alert-test-message")


@pytest.fixture
def payments(db: None) -> User:
    from access.models import Team

    team = Team.objects.create(name="Payments", label="payments")
    return UserFactory(
        username="omar", email="omar@example.org", role="operator", role__teams=[team]
    )


def test_the_alert_is_about_the_worst_open_finding_the_account_sees(payments: User) -> None:
    pay = HostFactory(name="pay-1", labels={"team": "payments"})
    FindingFactory(host=pay, rule_id="CTR-PRIVILEGED", severity=4, subject_name="cadvisor")
    FindingFactory(host=pay, rule_id="CTR-MEMORY-LIMIT", severity=2, subject_name="api")
    web = HostFactory(name="web-1", labels={"team": "web"})  # another team's, worse or not
    FindingFactory(host=web, rule_id="CTR-DOCKER-SOCKET", severity=4, subject_name="runner")

    message = alert_test_message(payments)

    assert message.to == ["omar@example.org"]
    assert message.subject == (
        "[Test] [Posture] New critical finding on pay-1: CTR-PRIVILEGED on cadvisor."
    )
    assert "web-1" not in str(message.body)
    assert not (Regression.objects.exists() or Event.objects.exists())
    assert not Notification.objects.exists()


def test_an_example_stands_in_when_nothing_fails(payments: User) -> None:
    message = alert_test_message(payments)

    assert message.subject.startswith("[Test] [Posture] New critical finding on example-host")
    assert "example-container" in str(message.body)


def test_accepted_and_resolved_findings_are_not_alerts(payments: User) -> None:
    pay = HostFactory(name="pay-1", labels={"team": "payments"})
    FindingFactory(host=pay, accepted=True, subject_name="accepted-one")

    assert "example-host" in alert_test_message(payments).subject


def test_the_button_sends_a_real_mail(client: Client, payments: User, lab_smtp: LabSmtp) -> None:
    client.force_login(payments)

    response = client.post(URL, follow=True)

    [message] = lab_smtp.wait_for(1)
    assert message["To"] == "omar@example.org"
    assert message["Subject"].startswith("[Test] [Posture] ")
    assert "A test alert was sent to omar@example.org." in response.content.decode()
    event = AuditEvent.objects.get(action="account.test_mail_sent")
    assert event.details["kind"] == "alert" and event.details["delivered"] is True


def test_one_a_minute(client: Client, payments: User, lab_smtp: LabSmtp) -> None:
    client.force_login(payments)
    client.post(URL)

    again = client.post(URL, follow=True).content.decode()

    assert "wait a minute" in again
    assert len(lab_smtp.messages) == 1


def test_the_alert_is_written_in_the_account_s_language(payments: User) -> None:
    from accounts.services import set_language

    FindingFactory(host=HostFactory(name="pay-1", labels={"team": "payments"}))
    set_language(payments, "fr")

    message = alert_test_message(payments)

    assert "pay-1" in message.subject and "New critical finding" not in message.subject
    assert "Page de l'hôte" in str(message.body)

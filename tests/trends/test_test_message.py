"""The account page's "Send a test report": last week's report of what the account sees, over
real SMTP to the account's address, marked as a test; one a minute; every attempt audited;
a mail server that refuses is said, not hidden."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from lab.smtp import LabSmtp
from tests.factories import FindingFactory, HostFactory, UserFactory
from trends.test_message import ACTION, report_test_message

pytestmark = pytest.mark.django_db

URL = reverse("report-test-message")


@pytest.fixture
def maya(client: Client) -> User:
    user = UserFactory(username="maya", email="maya@example.org", role="viewer")
    client.force_login(user)
    return user


def sent(client: Client) -> str:
    """The account page the button lands on, with what it says."""
    response = client.post(URL, follow=True)
    assert response.redirect_chain == [(reverse("account"), 302)]
    return response.content.decode()


def test_the_report_is_marked_as_a_test_and_built_like_a_weekly_one(maya: User) -> None:
    message = report_test_message(maya)

    assert message.to == ["maya@example.org"]
    assert message.subject.startswith("[Test] Posture report ")
    assert "W" in message.subject  # a week's key, as a weekly subscription would get
    assert [a[1] for a in message.alternatives] == ["text/html"]  # type: ignore[index]


def test_the_button_sends_a_real_mail_and_says_so(client: Client, maya: User, lab_smtp: LabSmtp):
    page = sent(client)

    [message] = lab_smtp.wait_for(1)
    assert message["To"] == "maya@example.org"
    assert message["Subject"].startswith("[Test] Posture report")
    assert "A test report was sent to maya@example.org." in page
    event = AuditEvent.objects.get(action=ACTION)
    assert event.actor == maya
    assert event.details == {
        "kind": "report",
        "to": "maya@example.org",
        "delivered": True,
        "error": "",
    }


def test_a_second_one_within_the_minute_is_refused(client: Client, maya: User, lab_smtp: LabSmtp):
    sent(client)
    page = sent(client)

    assert "wait a minute" in page
    assert len(lab_smtp.wait_for(1)) == 1
    assert AuditEvent.objects.filter(action=ACTION).count() == 1


def test_the_alert_button_does_not_hold_back_the_report(
    client: Client, maya: User, lab_smtp: LabSmtp
) -> None:
    # One a minute of EACH kind: a test alert just sent does not stop the report.
    client.post(reverse("alert-test-message"))
    sent(client)

    subjects = sorted(m["Subject"][:14] for m in lab_smtp.wait_for(2))
    assert subjects == ["[Test] Posture", "[Test] [Postur"]


def test_an_account_without_address_is_told_to_add_one(client: Client, lab_smtp: LabSmtp):
    client.force_login(UserFactory(email=""))

    page = sent(client)

    assert "no email address" in page
    assert lab_smtp.messages == [] and not AuditEvent.objects.filter(action=ACTION).exists()


def test_a_mail_server_that_refuses_is_said_and_audited(
    client: Client, maya: User, settings: Any
) -> None:
    # A port nothing listens on: the configured server is down.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False

    page = sent(client)

    assert "The mail server did not take the test mail (ConnectionRefusedError)" in page
    event = AuditEvent.objects.get(action=ACTION)
    assert event.details["delivered"] is False


def test_a_scoped_account_gets_the_figures_of_its_teams_only(client: Client) -> None:
    from access.models import Team

    team = Team.objects.create(name="Payments", label="payments")
    FindingFactory(host=HostFactory(name="pay-1", labels={"team": "payments"}))
    FindingFactory(host=HostFactory(name="web-1", labels={"team": "web"}))
    user = UserFactory(role="operator", role__teams=[team])

    message = report_test_message(user)

    assert "for your teams" in message.subject
    body = str(message.body)
    assert "web-1" not in body


def test_only_a_post_sends(client: Client, maya: User) -> None:
    assert client.get(URL).status_code == 405

"""A person's own account page: where their mail goes (or a warning that it cannot go
anywhere), the address and the language they change there, each change audited, a refused
address shown next to the field and nothing saved."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from accounts.models import Preference
from accounts.services import chosen_language
from audit.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = reverse("account")


@pytest.fixture
def maya(client: Client) -> User:
    user = UserFactory(username="maya", email="maya@example.org", role="viewer")
    client.force_login(user)
    return user


def save(client: Client, **data: str):
    return client.post(URL, {"email": "", "language": "", **data})


def test_the_page_says_where_mails_go_and_offers_test_mails(client: Client, maya: User) -> None:
    html = client.get(URL).content.decode()

    assert "Mails go to maya@example.org." in html
    assert "Send a test alert message" in html and "Send a test report" in html
    assert reverse("alert-test-message") in html and reverse("report-test-message") in html
    assert reverse("password-change") in html
    assert 'value="maya@example.org"' in html
    assert "autofocus" not in html.split('name="email"')[1].split(">")[0]


def test_without_an_address_it_warns_and_focuses_the_field(client: Client) -> None:
    client.force_login(UserFactory(email=""))

    html = client.get(URL).content.decode()

    assert "No address: alerts and reports cannot be delivered." in html
    assert "Send a test" not in html  # nothing to send to
    email_input = html.split('name="email"')[1].split(">")[0]
    assert "autofocus" in email_input


def test_an_invalid_address_is_refused_next_to_the_field(client: Client, maya: User) -> None:
    response = save(client, email="maya at example", language="fr")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Enter a valid email address." in html
    assert 'value="maya at example"' in html  # what was typed is kept
    assert "autofocus" in html.split('name="email"')[1].split(">")[0]
    maya.refresh_from_db()
    assert maya.email == "maya@example.org" and chosen_language(maya) == ""
    assert "Mails go to maya@example.org." in html  # the saved address, not the refused one
    assert not AuditEvent.objects.filter(action="account.updated").exists()


def test_htmx_gets_422_for_a_refused_form(client: Client, maya: User) -> None:
    response = client.post(URL, {"email": "nope", "language": ""}, headers={"HX-Request": "true"})

    assert response.status_code == 422
    assert "Enter a valid email address." in response.content.decode()


def test_an_unknown_language_is_refused(client: Client, maya: User) -> None:
    response = save(client, email="maya@example.org", language="xx")

    assert "Select a valid choice" in response.content.decode()
    assert not Preference.objects.filter(user=maya).exists()


def test_address_and_language_are_saved_audited_and_used_at_once(
    client: Client, maya: User
) -> None:
    response = save(client, email="maya.new@example.org", language="fr")

    assert response.status_code == 302 and response["Location"] == URL
    maya.refresh_from_db()
    assert maya.email == "maya.new@example.org" and chosen_language(maya) == "fr"
    event = AuditEvent.objects.get(action="account.updated")
    assert event.actor == maya and event.target_id == str(maya.pk)
    assert event.changes == {
        "email": ["maya@example.org", "maya.new@example.org"],
        "language": ["", "fr"],
    }
    page = client.get(URL)
    assert page["Content-Language"] == "fr"
    # The confirmation is said in the language just chosen (catalogue permitting).
    assert "maya.new@example.org" in page.content.decode()


def test_saving_nothing_new_records_nothing(client: Client, maya: User) -> None:
    save(client, email="maya@example.org")

    assert not AuditEvent.objects.filter(action="account.updated").exists()


def test_the_address_may_be_removed_and_the_page_then_warns(client: Client, maya: User) -> None:
    save(client, email="")

    maya.refresh_from_db()
    assert maya.email == ""
    assert "No address" in client.get(URL).content.decode()


def test_the_account_page_needs_a_sign_in(client: Client) -> None:
    response = client.get(URL)

    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("page", ["alerts", "report-subscriptions"])
def test_the_subscription_pages_say_where_mails_go(client: Client, maya: User, page: str) -> None:
    html = client.get(reverse(page)).content.decode()

    assert "Mails go to maya@example.org" in html
    assert f'href="{URL}#mail"' in html


@pytest.mark.parametrize("page", ["alerts", "report-subscriptions"])
def test_the_subscription_pages_warn_without_an_address(client: Client, page: str) -> None:
    client.force_login(UserFactory(email=""))

    html = client.get(reverse(page)).content.decode()

    assert "No address: alerts and reports cannot be delivered." in html
    assert f'href="{URL}#mail"' in html

"""The language switch: saved per user across sessions, CSRF-protected, no open redirect;
the login page follows the browser."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Preference
from accounts.services import user_language
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def switch(client: Client, language: str, next_url: str = "/rules/") -> str:
    response = client.post(reverse("language"), {"language": language, "next": next_url})
    assert response.status_code == 302
    return response["Location"]


def test_the_choice_survives_logging_out_and_back_in(client: Client):
    user = UserFactory()
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302

    assert switch(client, "fr") == "/rules/"
    assert "Catalogue des règles" in client.get(reverse("rules")).content.decode()

    client.post(reverse("logout"))
    login_page = client.get(reverse("login")).content.decode()
    assert "Log in to Posture" in login_page  # anonymous again: the browser decides
    client.post(reverse("login"), {"username": user.username, "password": PASSWORD})

    assert "Catalogue des règles" in client.get(reverse("rules")).content.decode()
    assert Preference.objects.get(user=user).language == "fr"


def test_switching_back_to_the_browser_language(client: Client):
    user = UserFactory()
    Preference.objects.create(user=user, language="fr")
    client.force_login(user)

    switch(client, "")

    assert Preference.objects.get(user=user).language == ""
    rules = client.get(reverse("rules"), headers={"accept-language": "en"}).content.decode()
    assert "Rule catalogue" in rules


@pytest.mark.parametrize(
    "accept, heading",
    [
        ("fr-FR,fr;q=0.9,en;q=0.8", "Se connecter à Posture"),
        ("fr-CA", "Se connecter à Posture"),
        ("en-US,en;q=0.9", "Log in to Posture"),
        ("de-DE", "Log in to Posture"),  # unsupported: the default language
    ],
)
def test_login_page_follows_accept_language(client: Client, accept: str, heading: str):
    response = client.get(reverse("login"), headers={"accept-language": accept})

    assert heading in response.content.decode()
    assert "Accept-Language" in response["Vary"]


def test_the_switch_refuses_a_post_without_csrf_token():
    user = UserFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post(reverse("language"), {"language": "fr", "next": "/"})

    assert response.status_code == 403
    assert not Preference.objects.filter(user=user).exists()


def test_the_switch_accepts_a_post_with_the_page_token():
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory())
    client.get(reverse("fleet"))  # sets the CSRF cookie, as the page with the form does
    token = client.cookies["csrftoken"].value

    response = client.post(
        reverse("language"), {"language": "fr", "next": "/", "csrfmiddlewaretoken": token}
    )

    assert response.status_code == 302


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/",
        "//evil.example/phish",
        "http://testserver.evil.example/",
        "javascript:alert(1)",
        "",
    ],
)
def test_the_switch_never_redirects_off_site(client: Client, next_url: str):
    client.force_login(UserFactory())

    assert switch(client, "fr", next_url) == reverse("fleet")


def test_the_switch_returns_to_a_same_site_page(client: Client):
    client.force_login(UserFactory())

    assert switch(client, "en", "/hosts/web1/?tab=history") == "/hosts/web1/?tab=history"


def test_the_switch_rejects_unknown_languages_and_gets(client: Client):
    user = UserFactory()
    client.force_login(user)

    refused = client.post(reverse("language"), {"language": "xx", "next": "/account/"}, follow=True)
    assert refused.redirect_chain == [("/account/", 302)]
    assert "This language is not offered" in refused.content.decode()
    assert client.get(reverse("language")).status_code == 405
    assert not Preference.objects.filter(user=user).exists()


def test_anonymous_visitors_cannot_use_the_switch(client: Client):
    response = client.post(reverse("language"), {"language": "fr"})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_user_language_for_mail_defaults_to_the_site_language():
    nobody = UserFactory()
    french = UserFactory()
    Preference.objects.create(user=french, language="fr")
    blank = UserFactory()
    Preference.objects.create(user=blank, language="")

    assert user_language(nobody) == "en"
    assert user_language(blank) == "en"
    assert user_language(french) == "fr"

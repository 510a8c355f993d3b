"""The fleet, host and rules pages speak the signed-in user's language, rule texts included."""

from __future__ import annotations

import pytest
from django.template import Context, Template
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from accounts.models import Preference
from rules import REGISTRY
from tests.factories import FindingFactory, HostFactory, HostPostureFactory, UserFactory

pytestmark = pytest.mark.django_db

PRIVILEGED = REGISTRY["CTR-PRIVILEGED"]


def get(client: Client, url: str, **headers: str) -> str:
    response = client.get(url, headers=headers)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def fleet() -> None:
    """GIVEN a scanned host failing the privileged-container rule, and one never scanned."""
    host = HostFactory(name="web1")
    HostPostureFactory(host=host, score=55, grade="D", failing_critical=1)
    FindingFactory(host=host, rule_id="CTR-PRIVILEGED", severity=4, subject_name="payments")
    HostFactory(name="fresh")


def test_french_user_sees_the_fleet_in_french(french_client: Client, fleet: None):
    response = french_client.get(reverse("fleet"))
    html = response.content.decode()

    assert response["Content-Language"] == "fr"
    assert '<html lang="fr">' in html
    assert f'<a href="{reverse("fleet")}" aria-current="page">Parc</a>' in html
    assert "Jamais analysé" in html and "Never scanned" not in html
    assert "Se déconnecter" in html


def test_french_user_sees_the_host_page_and_its_remediation_in_french(
    french_client: Client, fleet: None
):
    html = get(french_client, reverse("host-detail", args=["web1"]))

    assert escape(PRIVILEGED.title_fr) in html
    assert escape(PRIVILEGED.remediation.fr) in html
    assert escape(PRIVILEGED.remediation.en) not in html
    assert "Historique des analyses" in html and "Scan history" not in html


def test_french_user_sees_the_rules_pages_in_french(french_client: Client):
    catalogue = get(french_client, reverse("rules"))
    detail = get(french_client, reverse("rule-detail", args=[PRIVILEGED.id]))

    assert "Catalogue des règles" in catalogue
    assert escape(PRIVILEGED.title_fr) in catalogue
    assert "Comment corriger" in detail and "How to fix" not in detail
    assert escape(PRIVILEGED.rationale_fr) in detail
    assert escape(PRIVILEGED.remediation.fr) in detail


def test_english_user_sees_english_even_with_a_french_browser(english_client: Client, fleet: None):
    fleet_page = get(english_client, reverse("fleet"), accept_language="fr-FR,fr;q=0.9")
    host_page = get(english_client, reverse("host-detail", args=["web1"]), accept_language="fr")
    detail = get(english_client, reverse("rule-detail", args=[PRIVILEGED.id]), accept_language="fr")

    assert '<html lang="en">' in fleet_page
    assert "Never scanned" in fleet_page and "Jamais analysé" not in fleet_page
    assert escape(PRIVILEGED.title) in host_page
    assert escape(PRIVILEGED.remediation.en) in host_page
    assert escape(PRIVILEGED.remediation.fr) not in host_page
    assert "How to fix" in detail and escape(PRIVILEGED.remediation.en) in detail


def test_a_blank_preference_follows_the_browser(client: Client):
    user = UserFactory()
    Preference.objects.create(user=user, language="")
    client.force_login(user)

    assert "Catalogue des règles" in get(client, reverse("rules"), accept_language="fr")
    assert "Rule catalogue" in get(client, reverse("rules"), accept_language="en-GB")


def test_a_user_without_preference_row_follows_the_browser(client: Client):
    client.force_login(UserFactory())

    assert "Catalogue des règles" in get(client, reverse("rules"), accept_language="fr")
    assert "Rule catalogue" in get(client, reverse("rules"))


def test_the_switch_in_the_header_shows_the_current_choice(french_client: Client):
    html = get(french_client, reverse("rules") + "?scope=daemon")

    assert f'action="{reverse("language")}"' in html
    assert '<option value="fr" lang="fr" selected>Français</option>' in html
    assert '<option value="">Langue du navigateur</option>' in html
    assert '<input type="hidden" name="next" value="/rules/?scope=daemon">' in html


def test_the_switch_renders_nothing_outside_a_request():
    assert Template("{% load accounts %}{% language_switch %}").render(Context({})).strip() == ""

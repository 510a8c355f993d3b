"""A French-speaking user, in a real Chromium: switch to Français with the header's
language switch, read the fleet page and a rule's remediation in French, log out and in
again and find French still chosen (the choice is stored on the account, not the session)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from hosts.models import Host
from tests.system.browser.helpers import PASSWORD, log_in, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_switch_to_french_and_keep_it_after_logging_in_again(
    page: Page, live_server, django_user_model, seeded_fleet: list[Host]
) -> None:
    django_user_model.objects.create_user("chloe", "chloe@example.org", PASSWORD)
    log_in(page, live_server.url, "chloe")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Rules").click()
    page.get_by_role("link", name="CTR-PRIVILEGED", exact=True).first.click()
    expect(page).to_have_url(re.compile(r"/rules/CTR-PRIVILEGED/$"))
    remediation = page.locator(".remediation")
    expect(remediation).to_contain_text("Recreate the container without --privileged")
    shot(page, "rule", full_page=True)

    # The switch posts and comes back to the page it was used on.
    # The language is in the account's menu, under the account's name.
    page.locator(".menu-user > summary").click()
    page.select_option("#language-choice", "fr")
    with page.expect_navigation():
        page.locator("form.language-switch button").click()
    expect(page).to_have_url(re.compile(r"/rules/CTR-PRIVILEGED/$"))
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(remediation).to_contain_text("Recréez le conteneur sans --privileged")
    expect(remediation.locator("h2")).to_have_text("Comment corriger")

    page.get_by_role("navigation", name="Navigation principale").get_by_role(
        "link", name="Parc"
    ).click()
    expect(page.locator("h1")).to_have_text("Parc")
    expect(page.locator("table")).to_contain_text("pay-api-1")
    shot(page, "fleet-fr")

    page.locator(".menu-user > summary").click()
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page).not_to_have_url(re.compile(r"/rules/"))
    log_in(page, live_server.url, "chloe")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator("h1")).to_have_text("Parc")
    expect(page.locator("#language-choice")).to_have_value("fr")
    assert page.problems == []  # type: ignore[attr-defined]

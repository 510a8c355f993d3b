"""The two forms that answer a refusal with 422 to htmx (alerts, report mail), in a real
Chromium: the refusal is swapped in place and says why, and nothing is saved. htmx 2 swaps
no 4xx by default; base.html's htmx-config swaps 422, so these forms stopped looking like a
button that does nothing."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from alerts.models import Subscription
from hosts.models import Host
from tests.system.browser.helpers import PASSWORD, log_in
from trends.models import ReportSubscription

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def unexpected(problems: list[str]) -> list[str]:
    """Chromium logs every 4xx answer as a failed resource: the 422 is the point here."""
    return [p for p in problems if "status of 422" not in p]


def test_an_alert_subscription_without_its_team_is_refused_in_place(
    page: Page, live_server, django_user_model
) -> None:
    django_user_model.objects.create_user("omar", "omar@example.org", PASSWORD)
    Host.objects.create(name="pay-1", endpoint="tcp://10.0.0.9:2376", labels={"team": "pay"})
    log_in(page, live_server.url, "omar")
    page.goto(live_server.url + "/alerts/")
    form = page.locator("form[hx-post='/alerts/']")
    with page.expect_response(re.compile(r"/alerts/form\?")):
        form.locator("select[name=scope]").select_option("label")
    expect(form.locator("select[name=team]")).to_be_visible()

    with page.expect_response(re.compile(r"/alerts/$")) as answer:
        form.get_by_role("button", name="Subscribe").click()

    assert answer.value.status == 422
    invalid = page.locator("#alerts-panel .field-invalid")
    expect(invalid).to_have_count(1)
    expect(invalid).to_contain_text("Team")
    expect(invalid.locator(".error")).to_have_text("Choose the team.")
    assert not Subscription.objects.exists()
    assert unexpected(page.problems) == []  # type: ignore[attr-defined]


def test_an_alert_subscription_refused_without_script_shows_the_fields_it_needs(
    browser: Browser, live_server, django_user_model
) -> None:
    """Without JavaScript the scope change cannot re-render the form: the first Subscribe
    answers with the team select and what is missing, and the second one saves."""
    django_user_model.objects.create_user("omar", "omar@example.org", PASSWORD)
    Host.objects.create(name="pay-1", endpoint="tcp://10.0.0.9:2376", labels={"team": "pay"})
    context = browser.new_context(java_script_enabled=False, locale="en-GB")
    page = context.new_page()
    try:
        log_in(page, live_server.url, "omar")
        page.goto(live_server.url + "/alerts/")
        form = page.locator("form[action='/alerts/']")
        form.locator("select[name=scope]").select_option("label")
        expect(form.locator("select[name=team]")).to_have_count(0)
        with page.expect_navigation():
            form.get_by_role("button", name="Subscribe").click()
        expect(page.locator(".field-invalid .error")).to_have_text("Choose the team.")
        form.locator("select[name=team]").select_option("pay")
        with page.expect_navigation():
            form.get_by_role("button", name="Subscribe").click()
        expect(page.locator("main")).to_contain_text("Subscription saved.")
        assert Subscription.objects.get().label_selector == "team=pay"
    finally:
        context.close()


def test_a_report_mail_for_an_account_without_address_is_refused_in_place(
    page: Page, live_server, django_user_model
) -> None:
    django_user_model.objects.create_user("maria", "", PASSWORD)
    log_in(page, live_server.url, "maria")
    page.goto(live_server.url + "/reports/subscriptions/")
    form = page.locator("form[hx-post='/reports/subscriptions/']")

    with page.expect_response(re.compile(r"/reports/subscriptions/$")) as answer:
        form.get_by_role("button", name="Subscribe").click()

    assert answer.value.status == 422
    expect(page.locator("#report-subs-panel .alert-error")).to_contain_text("no email address")
    assert not ReportSubscription.objects.exists()
    assert unexpected(page.problems) == []  # type: ignore[attr-defined]


def test_an_alert_subscription_for_an_account_without_address_is_refused_in_place(
    page: Page, live_server, django_user_model
) -> None:
    django_user_model.objects.create_user("nadia", "", PASSWORD)
    log_in(page, live_server.url, "nadia")
    page.goto(live_server.url + "/alerts/")
    form = page.locator("form[hx-post='/alerts/']")

    with page.expect_response(re.compile(r"/alerts/$")) as answer:
        form.get_by_role("button", name="Subscribe").click()

    assert answer.value.status == 422
    expect(page.locator("#alerts-panel .alert-error")).to_contain_text("no email address")
    assert not Subscription.objects.exists()
    assert unexpected(page.problems) == []  # type: ignore[attr-defined]

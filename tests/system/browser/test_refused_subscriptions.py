"""The two forms that answer a refusal with 422 to htmx (alerts, report mail), in a real
Chromium: the refusal is swapped in place and says why, and nothing is saved. htmx 2 swaps
no 4xx by default; base.html's htmx-config swaps 422, so these forms stopped looking like a
button that does nothing."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from alerts.models import Subscription
from tests.system.browser.helpers import PASSWORD, log_in
from trends.models import ReportSubscription

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def unexpected(problems: list[str]) -> list[str]:
    """Chromium logs every 4xx answer as a failed resource: the 422 is the point here."""
    return [p for p in problems if "status of 422" not in p]


def test_an_alert_subscription_without_its_team_label_is_refused_in_place(
    page: Page, live_server, django_user_model
) -> None:
    django_user_model.objects.create_user("omar", "omar@example.org", PASSWORD)
    log_in(page, live_server.url, "omar")
    page.goto(live_server.url + "/alerts/")
    form = page.locator("form[hx-post='/alerts/']")
    form.locator("select[name=scope]").select_option("label")

    with page.expect_response(re.compile(r"/alerts/$")) as answer:
        form.get_by_role("button", name="Subscribe").click()

    assert answer.value.status == 422
    expect(page.locator("#alerts-panel .error").first).to_contain_text("Give the team label")
    assert not Subscription.objects.exists()
    assert unexpected(page.problems) == []  # type: ignore[attr-defined]


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

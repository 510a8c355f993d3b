"""A Slack channel for alerts, in a real Chromium: a URL the target policy refuses is refused
in place (and never typed back into the page), the right one saved showing only its host,
then "Send test message" reaches a receiver on 127.0.0.1 and its attempt shows."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from alerts.models import Subscription
from posture.celery import app
from tests.alerts.receiver import receiver
from tests.system.browser.axe import check_axe
from tests.system.browser.helpers import PASSWORD, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def eager() -> Iterator[None]:
    # The live server runs in this process: its tasks run in it too, as a worker would.
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def test_a_slack_channel_is_refused_in_place_then_saved_and_tested(
    page: Page, live_server: Any, django_user_model: Any, settings: Any, eager: None
) -> None:
    settings.POSTURE_ALLOWED_TARGETS = "127.0.0.0/8"
    django_user_model.objects.create_user("sam", "sam@example.org", PASSWORD)
    log_in(page, live_server.url, "sam")
    page.goto(live_server.url + "/alerts/")
    form = page.locator("form[hx-post='/alerts/']")
    form.locator("select[name=channel]").select_option("slack")
    form.locator("input[name=url]").fill("https://169.254.169.254/hooks/abc")
    with page.expect_response(re.compile(r"/alerts/$")) as answer:
        form.get_by_role("button", name="Subscribe").click()
    assert answer.value.status == 422
    invalid = page.locator("#alerts-panel .field-invalid")
    expect(invalid).to_have_count(1)
    expect(invalid.locator(".error")).to_contain_text("metadata")
    # The answer never types the URL back; the browser keeps what the person typed.
    assert "169.254.169.254/hooks/abc" not in answer.value.text()
    assert not Subscription.objects.exists()

    with receiver() as slack:
        form.locator("select[name=channel]").select_option("slack")
        form.locator("input[name=url]").fill(slack.url)
        form.get_by_role("button", name="Subscribe").click()
        expect(page.locator("#alerts-panel")).to_contain_text("Subscription saved.")
        expect(form.locator("input[name=url]")).to_have_value("")  # a fresh form after a save
        row = page.locator("#alerts-panel tbody tr").first
        expect(row).to_contain_text("Slack")
        expect(row).to_contain_text("127.0.0.1")
        assert "s3cr3t-path" not in page.content()

        row.get_by_role("button", name="Send test message").click()
        expect(page.locator("#alerts-panel")).to_contain_text("A test message is on its way")
        attempt = page.locator(".channel-deliveries tbody tr").first
        expect(attempt).to_contain_text("Delivered")
        expect(attempt).to_contain_text("HTTP 200")
        expect(attempt).to_contain_text("test")
        (request,) = slack.requests
        assert request.json()["text"].startswith("[Test]")
        check_axe(page, "alerts with a channel and its deliveries")

        row.get_by_role("link", name="Edit").click()
        expect(page.locator("main")).to_contain_text("Set — leave blank to keep.")
        expect(page.locator("input[name=url]")).to_have_value("")
        assert "s3cr3t-path" not in page.content()
        check_axe(page, "editing a channel subscription")
    assert "s3cr3t-path" not in page.content()
    assert page.problems == [p for p in page.problems if "status of 422" in p]  # type: ignore[attr-defined]

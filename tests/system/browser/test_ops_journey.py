"""An ops engineer's alerts, in a real Chromium: subscribe to the payments team's hosts,
see the subscription listed and remove it (htmx swaps of the panel), subscribe again; then
a real scan of the lab dockerd finds privileged containers on a payments host that an
earlier scan saw clean, the mail arrives at a real SMTP server, and its link opens that
host's page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from alerts.models import Subscription
from hosts.models import Host
from lab.daemon import LabDaemon
from lab.smtp import LabSmtp
from posture.celery import app
from scans import services
from scans.models import ScanRun
from tests.alerts.helpers import LIMITS, text_part
from tests.factories import ScanRunFactory
from tests.system.browser.helpers import PASSWORD, log_in, shot

pytestmark = [pytest.mark.browser, pytest.mark.docker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def eager_celery() -> Iterator[None]:
    # No worker here: the alerts task runs in the scan's thread, as a worker would run it.
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def subscribe(page: Page, labels: str, severity: str) -> None:
    form = page.locator("form[hx-post='/alerts/']")
    form.locator("select[name=scope]").select_option("label")
    form.locator("input[name=label_selector]").fill(labels)
    form.locator("select[name=min_severity]").select_option(label=severity)
    with page.expect_response(re.compile(r"/alerts/$")) as answer:
        form.get_by_role("button", name="Subscribe").click()
    assert answer.value.request.headers.get("hx-request") == "true"


def test_subscribe_remove_then_regression_mail_opens_host(
    page: Page,
    live_server,
    django_user_model,
    lab_daemon: LabDaemon,
    lab_samples: dict[str, str],
    lab_smtp: LabSmtp,
    eager_celery: None,
    settings: Any,
) -> None:
    settings.POSTURE_BASE_URL = live_server.url
    django_user_model.objects.create_user("omar", "omar@example.org", PASSWORD)
    host = Host.objects.create(
        name="pay-lab", endpoint=lab_daemon.unix_url, labels={"team": "payments", "env": "prod"}
    )
    log_in(page, live_server.url, "omar")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts").click()
    expect(page).to_have_url(re.compile(r"/alerts/$"))
    panel = page.locator("#alerts-panel")
    expect(panel).to_contain_text("No subscription")

    subscribe(page, "team=payments", "critical")
    rows = panel.locator("table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("team=payments")
    expect(rows.first).to_contain_text("critical")
    expect(panel).to_contain_text("Subscription saved.")
    expect(page).to_have_url(re.compile(r"/alerts/$"))  # swapped in place, no reload

    with page.expect_response(re.compile(r"/alerts/\d+/delete$")):
        rows.first.get_by_role("button", name="Remove").click()
    expect(panel).to_contain_text("Subscription removed.")
    expect(panel).to_contain_text("No subscription")
    assert not Subscription.objects.exists()

    subscribe(page, "team=payments", "critical")
    expect(rows).to_have_count(1)

    # The regression: privileged containers appear on the daemon after a clean scan (a
    # host's first picture is only a baseline, alerts.detect), and the next real scan
    # finds them.
    ScanRunFactory(host=host, requested_at=timezone.now() - timedelta(hours=1))
    queued, _ = services.request_scan(host, enqueue=False)
    run = services.run_scan(queued.pk, LIMITS)
    assert run.status == ScanRun.Status.SUCCEEDED, run.error_detail
    mail = lab_smtp.wait_for(1)[0]
    assert mail["To"] == "omar@example.org"
    assert "pay-lab" in mail["Subject"]
    link = re.search(r"https?://\S+/hosts/pay-lab/", text_part(mail))
    assert link is not None and link.group(0).startswith(live_server.url)

    page.goto(link.group(0))
    expect(page.locator("h1")).to_contain_text("pay-lab")
    expect(page.locator("article", has_text="CTR-PRIVILEGED")).to_contain_text("lab-privileged")

    page.goto(live_server.url + "/alerts/")
    expect(page.locator("#alerts-panel")).to_contain_text("Recent messages")
    shot(page, "alerts", full_page=True)
    assert page.problems == []  # type: ignore[attr-defined]

"""A security engineer's first visit, in a real Chromium: log in, find the failing host on
the fleet page, filter, drill into the host, read the evidence and the fix, scan again."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from access.roles import Role
from access.services import set_role
from hosts.models import Host
from lab.daemon import LabDaemon
from scans import services
from scans.models import ScanRun
from tests.system.browser.helpers import shot

pytestmark = [pytest.mark.browser, pytest.mark.docker, pytest.mark.django_db(transaction=True)]


def test_login_fleet_filter_host_scan(
    page: Page,
    live_server,
    django_user_model,
    lab_daemon: LabDaemon,
    lab_samples: dict[str, str],
    seeded_fleet: list[Host],  # the lab host among eleven others, for the screenshots
) -> None:
    set_role(
        django_user_model.objects.create_user("alice", password="correct horse battery"),
        Role.SECURITY,
    )
    lab = Host.objects.create(
        name="lab-1", endpoint=lab_daemon.unix_url, labels={"env": "prod", "team": "payments"}
    )
    Host.objects.create(
        name="staging-9", endpoint="unix:///tmp/pst-nothing.sock", labels={"env": "staging"}
    )
    for host in (lab, Host.objects.get(name="staging-9")):
        scan, _ = services.request_scan(host, enqueue=False)
        services.run_scan(scan.pk)

    page.goto(live_server.url + "/")
    expect(page).to_have_url(re.compile(r"/login/"))
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "correct horse battery")
    page.keyboard.press("Enter")

    table = page.locator("table")
    expect(table).to_contain_text("lab-1")
    expect(table).to_contain_text("staging-9")
    expect(table).to_contain_text("Host unreachable")
    shot(page, "fleet", full_page=True)

    # Filtering is an HTMX partial swap that also updates the URL, so it can be shared.
    page.fill("input[name=label]", "env=prod")
    expect(table).not_to_contain_text("staging-9")
    expect(page).to_have_url(re.compile(r"label=env%3Dprod"))
    # Leaving the field fires its "change" trigger: let that swap land before clicking a
    # row link, or the click can hit a row the swap is replacing.
    page.locator("input[name=label]").blur()
    page.wait_for_load_state("networkidle")

    page.get_by_role("link", name="lab-1", exact=True).click()
    expect(page.locator("h1")).to_contain_text("lab-1")
    card = page.locator("article", has_text="CTR-PRIVILEGED")
    expect(card).to_contain_text("lab-privileged")
    expect(card).to_contain_text("HostConfig.Privileged = true")
    expect(card).to_contain_text("--privileged")
    shot(page, "host")

    with page.expect_response(re.compile(r"/hosts/lab-1/scan$")):
        page.click("button:has-text('Scan now')")
    scan = ScanRun.objects.filter(host=lab, status=ScanRun.Status.QUEUED).first()
    assert scan is not None
    services.run_scan(scan.pk)  # no worker in this test: run it where the button queued it
    # The status badge polls until the scan ends (HTTP 286), then offers the new results.
    expect(page.locator("text=Show the new results")).to_be_visible(timeout=15000)
    assert page.problems == []  # type: ignore[attr-defined]

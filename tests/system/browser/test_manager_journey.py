"""A manager's monthly look, in a real Chromium: log in, open Trends, narrow it to one team
(an htmx swap whose URL can be shared), read the fleet score chart, open last month's
report, check that it prints on A4 without the navigation, and subscribe to it by mail."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from hosts.models import Host
from tests.system.browser.helpers import PASSWORD, SHOTS, log_in, shot
from tests.system.browser.seed import seed_exceptions
from trends.models import ReportSubscription

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# A4 is 210 mm wide; trends.css prints with 14 mm margins: 182 mm at 96 CSS px per inch.
A4_PRINTABLE_PX = int(182 / 25.4 * 96)


def test_trends_team_filter_report_prints_on_a4(
    page: Page, live_server, django_user_model, seeded_fleet: list[Host]
) -> None:
    django_user_model.objects.create_user("maria", "maria@example.org", PASSWORD)
    log_in(page, live_server.url, "maria")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Trends").click()
    expect(page.locator("h1")).to_have_text("Trends")
    body = page.locator("#trends-body")
    expect(body).to_contain_text("11 hosts scanned")

    # The filter is an htmx swap of #trends-body that pushes the filtered URL.
    with page.expect_response(re.compile(r"/trends/\?team=payments")) as answer:
        page.select_option("select[name=team]", "payments")
    assert answer.value.request.headers.get("hx-request") == "true"
    expect(page).to_have_url(re.compile(r"/trends/\?team=payments"))
    expect(body).to_contain_text("4 hosts scanned")
    chart = body.locator("svg.chart").first
    expect(chart).to_be_visible()
    assert chart.locator("path, polyline").count() > 0
    shot(page, "trends", full_page=True)

    # Shared: the pushed URL, opened afresh, shows the same filtered view.
    shared = page.url
    page.goto(live_server.url + "/")
    page.goto(shared)
    expect(page.locator("select[name=team]")).to_have_value("payments")
    expect(page.locator("#trends-body")).to_contain_text("4 hosts scanned")

    # Reports keeps the team; last month is one choice away.
    # The page's own link (the menu has one too, without the team).
    page.get_by_role("main").get_by_role("link", name="Reports", exact=True).click()
    expect(page).to_have_url(re.compile(r"/reports/\?team=payments"))
    page.select_option("select[name=period]", "month")
    expect(page).to_have_url(re.compile(r"period=month"))
    report = page.locator("#report-body")
    expect(report.locator("h2")).to_contain_text(re.compile(r"Security posture \d{4}-\d{2} "))
    expect(report).to_contain_text("Team payments")
    expect(report.locator("svg.chart")).to_have_count(2)
    page.wait_for_load_state("networkidle")
    shot(page, "report", full_page=True)

    # Printing: no navigation or filters, and nothing wider than A4's printable width.
    page.emulate_media(media="print")
    page.set_viewport_size({"width": A4_PRINTABLE_PX, "height": 1000})
    expect(page.locator("header.topbar")).to_be_hidden()
    expect(page.locator("form.filters")).to_be_hidden()
    expect(report).to_be_visible()
    box = page.locator("main").bounding_box()
    assert box is not None and box["width"] <= A4_PRINTABLE_PX
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= A4_PRINTABLE_PX, f"{overflow}px wide"
    pdf = page.pdf(format="A4", print_background=True)
    assert pdf.startswith(b"%PDF")

    # The same report every month by mail: the link offers the period and team on screen.
    page.emulate_media(media="screen")
    page.set_viewport_size({"width": 1280, "height": 800})
    report.get_by_role("link", name="Mail me this report").click()
    expect(page.locator("h1")).to_have_text("Report mails")
    expect(page.locator("select[name=period]")).to_have_value("month")
    expect(page.locator("input[name=team]")).to_have_value("payments")
    page.get_by_role("button", name="Subscribe").click()
    panel = page.locator("#report-subs-panel")
    expect(panel).to_contain_text("You will receive this report by email.")
    expect(panel.locator("tbody tr")).to_have_count(1)
    expect(panel.locator("tbody tr")).to_contain_text("team=payments")
    sub = ReportSubscription.objects.get(user__username="maria")
    assert (sub.period, sub.team, sub.active) == ("month", "payments", True)

    if SHOTS:  # the accepted risks a manager signs off, for the README only
        seed_exceptions(seeded_fleet)
        page.goto(live_server.url + "/exceptions/")
        expect(page.locator("h1")).to_be_visible()
        shot(page, "exceptions", full_page=True)
    assert page.problems == []  # type: ignore[attr-defined]

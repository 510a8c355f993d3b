"""The fleet and host pages at 768 px (a tablet, a half screen) and the header at 1280 px in
French, in a real Chromium (issue 17): nothing runs off the side of the page, the main
controls are in view, and the longest language's header stays on one line."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect

from access.roles import Role
from access.services import set_role
from findings.models import HostPosture
from hosts.models import Host
from tests.system.browser.conftest import REPORT_CSP
from tests.system.browser.helpers import PASSWORD, log_in, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The page scrolls sideways when its content is wider than the window; tables may scroll
# inside their own wrapper, the page itself may not.
OVERFLOW = "document.scrollingElement.scrollWidth - window.innerWidth"
# Every item of the header bar, by the top of its box: one line means one distinct top
# (within a few pixels: items of different heights are centred on the same line).
HEADER_ROWS = """() => {
  const tops = [...document.querySelectorAll(
    ".topbar > *:not(.skip-link), .topnav > *, .counts > *")]
    .filter((el) => el.getClientRects().length)
    .map((el) => el.getBoundingClientRect())
    .map((r) => Math.round(r.top + r.height / 2));
  return [...new Set(tops.map((t) => Math.round(t / 8)))].length;
}"""

# The placeholder's text, in the box's font, is no wider than the box's inside.
PLACEHOLDER_FITS = """(el) => {
  const style = getComputedStyle(el);
  const context = document.createElement("canvas").getContext("2d");
  context.font = style.font;
  const inside = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return context.measureText(el.placeholder).width <= inside;
}"""


def _page(browser: Browser, width: int, locale: str) -> Page:
    context = browser.new_context(viewport={"width": width, "height": 900}, locale=locale)
    context.add_init_script(REPORT_CSP)
    return context.new_page()


@pytest.fixture
def admin(db: None) -> User:
    user = User.objects.create_user("ada", "ada@example.org", PASSWORD)
    set_role(user, Role.ADMIN)
    return user


@pytest.fixture
def tablet(browser: Browser) -> Iterator[Page]:
    page = _page(browser, 768, "en-GB")
    yield page
    page.context.close()


@pytest.fixture
def french_desktop(browser: Browser) -> Iterator[Page]:
    page = _page(browser, 1280, "fr-FR")
    yield page
    page.context.close()


def test_fleet_and_host_pages_fit_768_px(
    tablet: Page, live_server, seeded_fleet: list[Host], admin: User
) -> None:
    page = tablet
    log_in(page, live_server.url, "ada")

    expect(page.locator("h1")).to_be_visible()
    assert page.evaluate(OVERFLOW) <= 0
    for control in (
        page.get_by_role("searchbox"),
        page.get_by_label("Labels"),
        page.get_by_role("button", name="Filter"),
        page.get_by_role("link", name="pay-api-1"),
    ):
        control.scroll_into_view_if_needed()
        expect(control).to_be_in_viewport()
    # The fleet table scrolls inside its wrapper, not the page.
    wrap = page.locator(".table-wrap").first
    assert wrap.evaluate("(el) => el.getBoundingClientRect().right") <= 768
    shot(page, "fleet-768")

    page.get_by_role("link", name="pay-api-1").click()
    expect(page.locator("h1")).to_contain_text("pay-api-1")
    page.wait_for_load_state("networkidle")
    assert page.evaluate(OVERFLOW) <= 0
    for control in (page.locator("h1"), page.get_by_role("button", name="Scan now")):
        expect(control).to_be_in_viewport()
    shot(page, "host-768", full_page=True)


def test_french_header_is_one_line_at_1280_px(
    french_desktop: Page, live_server, seeded_fleet: list[Host], admin: User
) -> None:
    page = french_desktop
    log_in(page, live_server.url, "ada")
    expect(page.locator("html")).to_have_attribute("lang", "fr")

    for url in ("/", "/rules/", f"/hosts/{seeded_fleet[0].name}/"):
        page.goto(live_server.url + url)
        shot(page, "header-fr-1280" + url.replace("/", "-").rstrip("-"))
        assert page.evaluate(HEADER_ROWS) == 1, f"the header wraps on {url}"
        assert page.evaluate(OVERFLOW) <= 0
    # A scan error adds its counter: still one line.
    HostPosture.objects.filter(host=seeded_fleet[0]).update(last_error_class="timeout")
    page.goto(live_server.url + "/rules/")
    expect(page.locator("#fleet-counts a[href$='status=error']")).to_contain_text("1")
    shot(page, "header-fr-1280-error")
    assert page.evaluate(HEADER_ROWS) == 1, "the header wraps with a scan error counted"
    # The fleet's search box shows its whole placeholder.
    page.goto(live_server.url + "/")
    search = page.get_by_role("searchbox")
    assert search.evaluate(PLACEHOLDER_FITS), "the search placeholder is cut"

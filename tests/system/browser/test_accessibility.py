"""Every page, in English and in French, has no serious or critical WCAG 2.2 A/AA violation
that axe-core finds in a real Chromium (issue 17). One browser context and one sign-in
per language keep it to a couple of seconds a page.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect

from access.roles import Role
from access.services import set_role
from findings.models import Container, Image
from hosts.models import Host
from tests.system.browser.axe import AXE, BLOCKING, describe, structure, violations
from tests.system.browser.conftest import REPORT_CSP, VIEWPORT
from tests.system.browser.helpers import PASSWORD, log_in
from tests.system.browser.seed import seed_exceptions
from tests.vulns.factories import (
    AdvisoryFactory,
    InventoryFactory,
    VulnFactory,
    place,
    vulnerability_data,
)
from vulndb.records import VulnSeverity
from vulns.models import ImageInventory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
KEV = "CVE-2024-3094"


def seed_images(host: Host) -> None:
    """One image with a known-exploited vulnerability on a seeded host, so the vulnerability,
    inventory, image and container pages have something to show."""
    vulnerability_data()
    inventory = InventoryFactory(image_name="registry.example/pay/api:1.4")
    VulnFactory(
        inventory=inventory,
        vuln=KEV,
        package_name="xz-utils",
        installed_version="5.6.0-0.2",
        fixed_version="5.6.1+really5.4.5-1",
        severity=VulnSeverity.CRITICAL,
        kev=True,
    )
    AdvisoryFactory(id=KEV, summary="Malicious code in the xz release tarballs")
    place(host, inventory, running=2)


def pages() -> list[str]:
    host = Host.objects.get(name="pay-api-1")
    container = Container.objects.filter(host=host).first()
    image = Image.objects.filter(host=host).first()
    inventory = ImageInventory.objects.first()
    assert container and image and inventory
    return [
        "/",
        "/?label=team=payments&status=failing",
        f"/hosts/{host.name}/",
        f"/hosts/{host.name}/containers/{container.container_id}/",
        f"/images/{image.name}/",
        "/containers/?name=cadvisor",
        "/rules/",
        "/rules/CTR-PRIVILEGED/",
        "/vulnerabilities/",
        f"/vulnerabilities/{KEV}/",
        f"/images/inventory/{inventory.key}/",
        "/profiles/",
        "/exceptions/",
        "/trends/",
        "/reports/",
        "/alerts/",
        "/account/",
        "/account/password/",
        "/account/mfa/",
        "/reports/subscriptions/",
        "/access/users/",
        "/access/users/new",
        f"/access/users/{User.objects.get(username='ada').pk}/",
        "/access/teams/",
        "/audit/",
        "/hosts/new",
        f"/hosts/{host.name}/edit",
        "/containers/",
        "/images/",
    ]


def test_axe_is_the_recorded_release() -> None:
    """The vendored axe-core is byte for byte the release vendor/VENDORED.json names."""
    record = json.loads((AXE.parent / "VENDORED.json").read_text())["axe.min.js"]
    data = AXE.read_bytes()
    assert hashlib.sha256(data).hexdigest() == record["sha256"]
    assert record["sri"] == "sha256-" + base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert data.startswith(f"/*! axe v{record['version']}".encode())


@pytest.fixture
def language_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A context whose browser asks for the language under test: the account follows the
    browser (no language chosen), so the login page is in that language too."""
    locale = {"en": "en-GB", "fr": "fr-FR"}[request.param]
    context = browser.new_context(viewport=VIEWPORT, locale=locale)
    context.add_init_script(REPORT_CSP)
    page = context.new_page()
    yield page
    context.close()


@pytest.mark.parametrize("language_page", ["en", "fr"], indirect=True)
def test_every_page_passes_axe(language_page: Page, live_server, seeded_fleet) -> None:
    page = language_page
    lang = page.evaluate("navigator.language")[:2]
    seed_images(seeded_fleet[0])
    seed_exceptions(seeded_fleet)
    set_role(User.objects.create_user("ada", "ada@example.org", PASSWORD), Role.ADMIN)

    found: dict[str, str] = {}

    def check(url: str) -> None:
        response = page.goto(live_server.url + url)
        assert response is not None
        assert response.status == 200, f"{url} answered {response.status}"
        page.wait_for_load_state("networkidle")
        blocking = [v for v in violations(page) if v["impact"] in BLOCKING]
        problems = structure(page)
        if blocking or problems:
            found[url] = "\n".join([describe(blocking), *problems]).strip()

    check("/login/")
    log_in(page, live_server.url, "ada")
    expect(page.locator(".menu-user > summary")).to_have_text("ada")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    for url in pages():
        check(url)

    language = page.locator("html").get_attribute("lang")
    report = "\n".join(f"{url}:\n{text}" for url, text in found.items())
    assert not found, f"axe-core, {language}: {len(found)} page(s) with violations\n{report}"


# The element that has the focus, and whether it shows it: an outline of 2 px at least
# (posture.css gives every :focus-visible one), on screen.
FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  return {
    what: `${el.tagName.toLowerCase()} "${(el.textContent || el.name || "").trim().slice(0, 40)}"`,
    ring: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
    shown: box.width > 0 && box.height > 0,
  };
}"""


def test_a_keyboard_reaches_everything_and_sees_where_it_is(
    page: Page, live_server, seeded_fleet
) -> None:
    set_role(User.objects.create_user("ada", "ada@example.org", PASSWORD), Role.ADMIN)
    log_in(page, live_server.url, "ada")

    # The first Tab stop skips the menu, and is visible when it has the focus.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()

    # Every stop of the fleet page shows its focus, up to the first host.
    hosts = {f'a "{host.name}"': host.name for host in seeded_fleet}
    stops: list[str] = []
    for _ in range(80):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        assert focused and focused["shown"], f"the focus left the page after {stops[-3:]}"
        assert focused["ring"], f"no visible focus on {focused['what']}"
        stops.append(focused["what"])
        if focused["what"] in hosts:
            break
    else:
        raise AssertionError(f"Tab never reached the first host: {stops}")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text(hosts[focused["what"]])

    # The menus open with Enter, close with Escape (the focus back on their name), and
    # their links follow with Tab.
    policy = page.locator(".topnav details.menu").first
    summary = policy.locator("summary")
    summary.focus()
    page.keyboard.press("Enter")
    expect(policy).to_have_attribute("open", "")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Profiles")).to_be_focused()
    page.keyboard.press("Escape")
    expect(policy).not_to_have_attribute("open", "")
    expect(summary).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page).to_have_url(live_server.url + "/exceptions/")
    # The page shown is marked in the menu, not by colour alone.
    expect(page.locator('.topnav a[aria-current="page"]')).to_have_attribute("href", "/exceptions/")
    assert page.problems == []  # type: ignore[attr-defined]

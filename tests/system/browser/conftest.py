from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from hosts.models import Host
from tests.system.browser.seed import seed_fleet

# Debian's chromium, never a browser downloaded by Playwright (no network here).
CHROMIUM = os.environ.get("POSTURE_CHROMIUM", "/usr/bin/chromium")
# Without these, Chromium keeps dialling Google services that this closed network refuses.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The size of the README screenshots.
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
# Chromium logs a CSP violation as a console error; this makes sure one is reported even if
# a later Chromium stops doing so. Init scripts run outside the page's CSP.
REPORT_CSP = """
document.addEventListener("securitypolicyviolation", (e) =>
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`));
"""


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    # Playwright's sync API runs an event loop; Django refuses ORM calls from "async" code
    # unless told this test process is not an ASGI server.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, locale="en-GB")
    context.add_init_script(REPORT_CSP)
    page = context.new_page()
    problems: list[str] = []
    # A CSP violation or a failed asset shows up here: the test fails on any of them.
    # Chromium also logs every 4xx answer as a "failed resource"; a refused form's 422 is the
    # answer the form is designed to give (shown in place), not a fault of the page.
    page.on(
        "console",
        lambda m: (
            problems.append(m.text) if m.type == "error" and "status of 422" not in m.text else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.problems = problems  # type: ignore[attr-defined]
    yield page
    context.close()


@pytest.fixture
def seeded_fleet(db: None) -> list[Host]:
    """Eleven hosts with 90 days of history (tests/system/browser/seed.py)."""
    return seed_fleet()

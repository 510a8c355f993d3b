"""What every journey does: sign in through the login form, and save a screenshot for the
README when POSTURE_SCREENSHOTS names a folder (e.g. docs/screenshots)."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Page

SHOTS = os.environ.get("POSTURE_SCREENSHOTS")
PASSWORD = "correct horse battery"


def shot(page: Page, name: str, full_page: bool = False) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        # caret="initial": hiding the text caret makes Playwright inject a <style>, which the
        # page's CSP refuses and the journeys then report as a page fault.
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=full_page, caret="initial")


def log_in(page: Page, base_url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(base_url + "/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.keyboard.press("Enter")

"""The API documentation page in a real Chromium, under the product's CSP: Swagger UI from
the sidecar's static files (no CDN) renders the schema's operations with no CSP report and
no failed resource."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.system.browser.helpers import PASSWORD, log_in, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_api_docs_render_under_the_csp(
    page: Page, live_server: Any, django_user_model: Any
) -> None:
    django_user_model.objects.create_user("ci-admin", "ci@example.org", PASSWORD)
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    log_in(page, live_server.url, "ci-admin")
    page.goto(live_server.url + "/api/v1/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Posture API")
    expect(
        page.locator(".opblock-summary-path", has_text="/api/v1/hosts/{name}/posture/")
    ).to_have_count(1)
    shot(page, "api-docs")
    page.locator(".opblock-summary-path", has_text="/api/v1/rules/").first.click()
    expect(page.locator(".opblock-body").first).to_be_visible()
    assert page.problems == []  # type: ignore[attr-defined]
    outside = [u for u in requested if not u.startswith(live_server.url)]
    assert outside == [], "everything from Posture itself (no CDN)"

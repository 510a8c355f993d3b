"""Every page needs a login, and no page carries inline code the CSP would refuse."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD, FindingFactory, HostFactory, HostPostureFactory, UserFactory

pytestmark = pytest.mark.django_db

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|\sstyle\s*=", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)


@pytest.mark.parametrize(
    "name, args",
    [
        ("fleet", []),
        ("host-add", []),
        ("host-detail", ["docker001"]),
        ("host-edit", ["docker001"]),
        ("host-delete", ["docker001"]),
        ("host-status", ["docker001"]),
    ],
)
def test_pages_redirect_anonymous_users_to_login(client: Client, name: str, args: list[str]):
    HostFactory(name="docker001")
    url = reverse(name, args=args)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_scan_now_refuses_anonymous_posts(client: Client):
    host = HostFactory()

    response = client.post(reverse("host-scan", args=[host.name]))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not host.scans.exists()


def test_login_page_logs_in_and_goes_to_the_fleet(client: Client):
    user = UserFactory()

    page = client.get(reverse("login"))
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})

    assert page.status_code == 200
    assert b'name="username"' in page.content
    assert response.status_code == 302
    assert response["Location"] == reverse("fleet")


def test_pages_have_no_inline_script_style_or_handlers(client: Client):
    client.force_login(UserFactory())
    host = HostFactory(labels={"env": "prod"})
    HostPostureFactory(host=host)
    FindingFactory(host=host)
    urls = [
        reverse("fleet"),
        reverse("host-add"),
        reverse("host-detail", args=[host.name]),
        reverse("host-edit", args=[host.name]),
        reverse("host-delete", args=[host.name]),
    ]
    for url in urls:
        response = client.get(url)
        html = response.content.decode()

        assert response.status_code == 200, url
        assert "script-src 'self'" in response["Content-Security-Policy"]
        assert not INLINE_SCRIPT.search(html), url
        assert not INLINE_STYLE.search(html), url
        assert not EVENT_HANDLER.search(html), url
    logged_out = Client().get(reverse("login")).content.decode()
    assert not INLINE_SCRIPT.search(logged_out)
    assert not INLINE_STYLE.search(logged_out)


def test_base_page_wires_htmx_csrf_and_config(client: Client):
    client.force_login(UserFactory())

    html = client.get(reverse("fleet")).content.decode()

    assert '<script src="/static/vendor/htmx.min.js"' in html
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    assert '"includeIndicatorStyles": false' in html

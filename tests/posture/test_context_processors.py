"""The menu marks the page shown (aria-current="page"), every page in a section marks its
entry, and the skip link leads to <main id="main"> (issue 17)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.factories import HostFactory, HostPostureFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(UserFactory(username="ada"))
    return client


def current(html: str) -> list[str]:
    """The hrefs the page marks as current."""
    return re.findall(r'<a href="([^"]+)" aria-current="page"', html)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/", "/"),
        ("/hosts/web-1/", "/"),
        ("/containers/", "/containers/"),
        ("/images/", "/images/"),
        ("/rules/", "/rules/"),
        ("/rules/CTR-PRIVILEGED/", "/rules/"),
        ("/vulnerabilities/", "/vulnerabilities/"),
        ("/profiles/", "/profiles/"),
        ("/exceptions/", "/exceptions/"),
        ("/trends/", "/trends/"),
        ("/reports/", "/reports/"),
        ("/alerts/", "/alerts/"),
        ("/access/users/", "/access/users/"),
        ("/access/teams/", "/access/teams/"),
        ("/account/", "/account/"),
    ],
)
def test_the_menu_marks_the_section_of_the_page(admin_client: Client, url: str, expected: str):
    HostPostureFactory(host=HostFactory(name="web-1"))

    html = admin_client.get(url).content.decode()

    assert current(html) == [expected]


def test_every_page_has_a_skip_link_to_main(admin_client: Client):
    html = admin_client.get("/rules/").content.decode()

    assert '<a class="skip-link" href="#main">' in html
    assert '<main class="page" id="main" tabindex="-1">' in html
    # Reports is in the menu.
    assert '<a href="/reports/"' in html

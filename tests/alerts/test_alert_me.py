""" "Alert me" on a host's page and beside a team label: links to the alert form, prefilled
with that host or team (the form then checks what the link says)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import HostFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client: Client) -> Any:
    user = UserFactory(username="ana", email="ana@example.org")
    client.force_login(user)
    return user


def test_the_host_page_offers_the_host_and_its_team(client: Client, signed_in: Any) -> None:
    HostFactory(name="pay-1", labels={"team": "payments", "env": "prod"})
    html = client.get(reverse("host-detail", args=["pay-1"])).content.decode()
    assert 'href="/alerts/?host=pay-1"' in html
    assert 'href="/alerts/?team=payments"' in html
    assert "/alerts/?env" not in html and "?team=prod" not in html  # not a team label
    assert '<span class="offscreen"> about team payments</span>' in html


def test_a_team_filter_on_the_fleet_offers_the_team(client: Client, signed_in: Any) -> None:
    HostFactory(name="pay-1", labels={"team": "payments"})
    filtered = client.get(reverse("fleet"), {"label": "team=payments"}).content.decode()
    assert 'href="/alerts/?team=payments"' in filtered
    assert "/alerts/?team" not in client.get(reverse("fleet"), {"label": "env=x"}).content.decode()


def test_a_link_name_is_quoted(client: Client, signed_in: Any) -> None:
    HostFactory(name="pay-1", labels={"team": "a&b"})
    html = client.get(reverse("host-detail", args=["pay-1"])).content.decode()
    assert 'href="/alerts/?team=a%26b"' in html

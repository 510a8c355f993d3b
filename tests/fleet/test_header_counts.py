"""The fleet counters show in the header of every page, not only the fleet's, counted over
the hosts the account may see, and kept a few seconds per scope (issue 17)."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.test import Client

from access.models import Team
from tests.factories import HostFactory, HostPostureFactory, UserFactory

pytestmark = pytest.mark.django_db


def counters(html: str) -> dict[str, int]:
    block = re.search(r'<div id="fleet-counts".*?</div>', html, re.S)
    assert block, "no counters in the header"
    found = re.findall(r"<strong>(\d+)</strong> ([a-z ]+)</a>", block.group(0))
    return {label.strip(): int(n) for n, label in found}


def team(label: str) -> Team:
    return Team.objects.get_or_create(name=label.title(), label=label)[0]


@pytest.fixture
def fleet() -> None:
    HostPostureFactory(host=HostFactory(name="pay-1", labels={"team": "pay"}), failing_high=2)
    clean = {"failing_high": 0, "failing_medium": 0}
    HostPostureFactory(host=HostFactory(name="web-1", labels={"team": "web"}), **clean)
    HostPostureFactory(
        host=HostFactory(name="web-2", labels={"team": "web"}), last_error_class="timeout", **clean
    )


@pytest.mark.parametrize("url", ["/rules/", "/trends/", "/alerts/", "/account/"])
def test_every_page_shows_the_fleet_counters(client: Client, fleet: None, url: str):
    client.force_login(UserFactory())

    html = client.get(url).content.decode()

    assert counters(html) == {"hosts": 3, "failing": 1, "scan errors": 1}


def test_counters_count_only_the_hosts_of_the_accounts_teams(client: Client, fleet: None):
    client.force_login(UserFactory(role="operator", role__teams=[team("web")]))

    html = client.get("/rules/").content.decode()

    assert counters(html) == {"hosts": 2, "failing": 0, "scan errors": 1}


def test_counters_are_kept_a_few_seconds_per_scope(client: Client, fleet: None, settings):
    settings.POSTURE_HEADER_COUNTS_SECONDS = 30
    cache.clear()
    client.force_login(UserFactory())
    assert counters(client.get("/rules/").content.decode())["hosts"] == 3

    HostFactory(name="new-1")

    assert counters(client.get("/rules/").content.decode())["hosts"] == 3
    # Another scope is counted on its own, never served the first one's figures.
    client.force_login(UserFactory(role="operator", role__teams=[team("pay")]))
    assert counters(client.get("/rules/").content.decode())["hosts"] == 1
    cache.clear()

"""/containers/ and /images/: every container and image of the fleet the account sees, with
search, filters, paging and the failing findings of each row (accepted risks not counted)."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from findings.models import Container, Finding, Image
from tests.factories import FindingFactory, HostFactory, HostPostureFactory, UserFactory
from tests.findings import scoped_fleet
from tests.findings.scoped_fleet import NGINX_ID, REDIS_ID, RULE, cid

pytestmark = pytest.mark.django_db


def rows(html: str) -> list[str]:
    """The host of each row of the list's table."""
    return re.findall(r'class="host-link" href="/hosts/([^/]+)/"', html)


def test_containers_list_every_container_the_account_sees() -> None:
    fleet = scoped_fleet.build()
    for role, seen in scoped_fleet.SEES.items():
        html = fleet.client(role).get(reverse("containers")).content.decode()
        # "lone" runs no container: every other host it sees runs "shop".
        assert set(rows(html)) == seen - {"lone"}, role


def test_images_list_every_image_the_account_sees() -> None:
    fleet = scoped_fleet.build()
    for role, seen in scoped_fleet.SEES.items():
        html = fleet.client(role).get(reverse("images")).content.decode()
        assert set(rows(html)) == seen, role
    # Another team's image is not even named to a team-scoped account.
    assert "redis" not in fleet.client("operator-pay").get(reverse("images")).content.decode()


def test_failing_counts_leave_accepted_risks_out() -> None:
    fleet = scoped_fleet.build()
    Finding.objects.filter(host=fleet.hosts["pay-2"]).update(accepted=True)
    html = fleet.client("admin").get(reverse("containers"), {"sort": "host"}).content.decode()
    cell = r'<td class="num">(?:<span class="count-failing">(\d+)|<span class="muted">(0))'
    counts = re.findall(cell, html)
    assert [a or b for a, b in counts] == ["1", "0", "1"]  # pay-1, pay-2 (accepted), web-1
    only_failing = fleet.client("admin").get(reverse("containers"), {"failing": "1"})
    assert set(rows(only_failing.content.decode())) == {"pay-1", "web-1"}


def test_images_count_their_own_findings_and_their_containers() -> None:
    fleet = scoped_fleet.build()
    html = fleet.client("admin").get(reverse("images"), {"host": "lone"}).content.decode()
    assert rows(html) == ["lone"] and 'class="count-failing">1<' in html  # IMG-ROOT-USER
    html = fleet.client("admin").get(reverse("images"), {"host": "pay-1"}).content.decode()
    assert rows(html) == ["pay-1"] and 'class="count-failing">1<' in html  # its container's


@pytest.mark.parametrize(
    "params, hosts",
    [
        ({"q": "shop"}, {"pay-1", "pay-2", "web-1"}),
        ({"q": "nginx"}, {"pay-1", "pay-2", "web-1"}),
        ({"q": "nothing"}, set()),
        ({"host": "pay-2"}, {"pay-2"}),
        ({"team": "web"}, {"web-1"}),
        ({"state": "running"}, {"pay-1", "pay-2", "web-1"}),
        ({"state": "stopped"}, set()),
        ({"severity": "critical"}, {"pay-1", "pay-2", "web-1"}),
        ({"severity": "low"}, set()),
    ],
)
def test_container_filters(params: dict[str, str], hosts: set[str]) -> None:
    fleet = scoped_fleet.build()
    html = fleet.client("admin").get(reverse("containers"), params).content.decode()
    assert set(rows(html)) == hosts


def test_a_team_filter_cannot_widen_the_scope() -> None:
    fleet = scoped_fleet.build()
    html = fleet.client("operator-pay").get(reverse("containers"), {"team": "web"})
    assert rows(html.content.decode()) == []
    html = fleet.client("operator-pay").get(reverse("containers"), {"host": "web-1"})
    assert rows(html.content.decode()) == []


def test_htmx_gets_the_table_only_with_its_export_menu() -> None:
    fleet = scoped_fleet.build()
    response = fleet.client("security").get(
        reverse("containers"), {"q": "shop", "team": "pay"}, headers={"hx-request": "true"}
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="subject-list"')
    # The export carries the same selection under the export's names.
    assert "/findings.sarif?kind=container&amp;label=team%3Dpay&amp;search=shop" in html


def test_no_export_menu_without_the_export_permission() -> None:
    fleet = scoped_fleet.build()
    assert "findings.csv" not in fleet.client("viewer").get(reverse("images")).content.decode()
    assert "findings.csv" in fleet.client("security").get(reverse("images")).content.decode()


def test_a_page_costs_the_same_for_3_or_60_containers() -> None:
    fleet = scoped_fleet.build()
    client = fleet.client("admin")

    def count() -> int:
        client.get(reverse("containers"))
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("containers"), {"failing": "1"}).status_code == 200
        return len(ctx.captured_queries)

    small = count()
    for n in range(60):
        host = HostFactory(name=f"more-{n}", labels={"team": "pay"})
        HostPostureFactory(host=host)
        Container.objects.create(host=host, container_id=cid(100 + n), name=f"c{n}", digest="d")
        Image.objects.create(host=host, image_id=REDIS_ID, name="redis:7", digest="d")
        FindingFactory(host=host, rule_id=RULE, subject_key=cid(100 + n), subject_name=f"c{n}")
    assert count() == small


def test_pages_of_fifty() -> None:
    host = HostFactory(name="big")
    for n in range(55):
        Container.objects.create(host=host, container_id=cid(n), name=f"c{n:02d}", digest="d")
    client = Client()
    client.force_login(UserFactory())
    first = client.get(reverse("containers")).content.decode()
    assert len(rows(first)) == 50 and "page 1 of 2" in first
    second = client.get(reverse("containers"), {"page": "2"}).content.decode()
    assert len(rows(second)) == 5
    assert NGINX_ID not in second

"""Triage on the vulnerability page: a decision recorded, refused with its errors shown and
nothing typed lost, revoked; its effect on the fleet page's counts; the signal scans hear."""

from __future__ import annotations

import datetime
from importlib import import_module
from typing import Any

import pytest
from django.test import Client
from django.urls import include, path
from django.utils import timezone

from access.scope import Scope
from hosts.models import Host
from tests.factories import HostFactory, UserFactory
from tests.vulns.factories import (
    DecisionFactory,
    InventoryFactory,
    VulnFactory,
    decision_form,
    place,
    vulnerability_data,
)
from vulns import signals
from vulns.models import VulnDecision
from vulns.queries import VulnFilters, vulnerability_groups

EVERYTHING = Scope.everything()

urlpatterns = [  # vulns first: see tests/vulns/test_pages.py
    path("", include("vulns.urls")),
    *import_module("posture.urls").urlpatterns,
]
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]
VULN = "CVE-2024-3094"
URL = f"/vulnerabilities/{VULN}/"


@pytest.fixture
def client(client: Client) -> Client:
    client.force_login(UserFactory(username="maya"))
    return client


@pytest.fixture
def hosts() -> dict[str, Host]:
    """xz on two repositories: pay runs registry.example/pay/api, web runs nginx."""
    vulnerability_data()
    pay = HostFactory(name="pay-1", labels={"team": "pay"})
    web = HostFactory(name="web-1", labels={"team": "web"})
    api = InventoryFactory(image_name="registry.example/pay/api:1.4")
    nginx = InventoryFactory(image_name="nginx:1.27")
    for inv in (api, nginx):
        VulnFactory(inventory=inv, vuln=VULN, package_name="xz-utils", kev=True)
    place(pay, api, tags=["registry.example/pay/api:1.4", "registry.example/pay/api:latest"])
    place(web, nginx, tags=["nginx:1.27"])
    return {"pay": pay, "web": web}


@pytest.fixture
def heard() -> Any:
    calls: list[list[str]] = []

    def receiver(sender: type, hosts: list[Host], **kwargs: Any) -> int:
        calls.append(sorted(h.name for h in hosts))
        return len(hosts)

    signals.triage_changed.connect(receiver, dispatch_uid="test-triage")
    yield calls
    signals.triage_changed.disconnect(dispatch_uid="test-triage")


def counts(**filters: Any) -> tuple[list[str], int]:
    groups, hidden = vulnerability_groups(VulnFilters(**filters), scope=EVERYTHING)
    return [g.vuln for g in groups], hidden


def test_a_fleet_decision_hides_the_vulnerability(
    client: Client, hosts: dict[str, Host], heard: list[list[str]]
) -> None:
    response = client.post(URL, decision_form(), headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Decision recorded" in html
    decision = VulnDecision.objects.get()
    assert (decision.vuln, decision.state, decision.created_by.username) == (
        VULN,
        "not_affected",
        "maya",
    )
    assert heard == [["pay-1", "web-1"]]
    assert counts() == ([], 1)
    assert counts(triaged=True) == ([VULN], 0)
    page = client.get("/vulnerabilities/").content.decode()
    assert VULN not in page.split('id="vuln-table"')[1].split("table-foot")[0]
    assert "1 triaged, show" in page


def test_plain_post_redirects(client: Client, hosts: dict[str, Host]) -> None:
    response = client.post(URL, decision_form())
    assert response.status_code == 302 and response["Location"] == URL


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"justification": ""}, "justification", "Say why it is not affected."),
        ({"reason": "  "}, "reason", "This field is required."),
        ({"owner": ""}, "owner", "This field is required."),
        ({"state": "accepted", "expires_on": ""}, "expires_on", "needs an expiry date"),
        ({"scope": "repository", "scope_value": ""}, "scope_value", "Name the repository"),
        ({"scope": "label", "scope_value": "team"}, "scope_value", "key=value"),
        ({"expires_on": "2001-01-01"}, "expires_on", "after today"),
        ({"state": "maybe"}, "state", "Select a valid choice"),
    ],
)
def test_invalid_decisions_show_errors_and_keep_the_input(
    client: Client,
    hosts: dict[str, Host],
    heard: list[list[str]],
    changes: dict[str, str],
    field: str,
    message: str,
) -> None:
    data = decision_form(reason="typed with care", owner="ops@example.org")
    data.update(changes)
    response = client.post(URL, data, headers={"HX-Request": "true"})
    assert response.status_code == 422  # base.html's htmx-config swaps it in place
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="vuln-panel"')
    assert "The decision was not recorded" in html
    assert message in html
    assert "field-invalid" in html
    if field != "reason":
        assert "typed with care" in html
    assert not VulnDecision.objects.exists()
    assert heard == []


def test_accepted_with_expiry_and_repository_scope(client: Client, hosts: dict[str, Host]) -> None:
    day = (timezone.localdate() + datetime.timedelta(days=30)).isoformat()
    data = decision_form(
        state="accepted",
        justification="code_not_present_is_dropped",
        scope="repository",
        scope_value="registry.example/pay/api",
        expires_on=day,
    )
    data["justification"] = ""
    assert client.post(URL, data).status_code == 302
    decision = VulnDecision.objects.get()
    assert decision.expires_at is not None and decision.justification == ""
    # pay's image is covered by its repository, whatever its tag; web's nginx is not.
    groups, hidden = vulnerability_groups(VulnFilters(), scope=EVERYTHING)
    assert [(g.vuln, g.hosts, g.images, g.triaged_occurrences) for g in groups] == [(VULN, 1, 1, 1)]
    assert hidden == 0


def test_label_and_package_scopes(hosts: dict[str, Host]) -> None:
    DecisionFactory(vuln=VULN, scope="label", scope_value="team=web")
    groups, _hidden = vulnerability_groups(VulnFilters(), scope=EVERYTHING)
    assert [(g.hosts, g.images) for g in groups] == [(1, 1)]
    DecisionFactory(vuln=VULN, scope="package", scope_value="xz-utils")
    assert counts() == ([], 1)


def test_expired_decisions_no_longer_cover(hosts: dict[str, Host]) -> None:
    DecisionFactory(vuln=VULN, expires_at=timezone.now() - datetime.timedelta(minutes=1))
    assert counts() == ([VULN], 0)


def test_revoke(client: Client, hosts: dict[str, Host], heard: list[list[str]]) -> None:
    decision = DecisionFactory(vuln=VULN)
    assert counts() == ([], 1)
    url = f"/vulnerabilities/{VULN}/decisions/{decision.pk}/revoke"
    response = client.post(url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "Decision revoked" in response.content.decode()
    decision.refresh_from_db()
    assert decision.revoked_at is not None
    assert heard == [["pay-1", "web-1"]]
    assert counts() == ([VULN], 0)
    # A second revoke changes nothing and asks for nothing.
    assert client.post(url).status_code == 302
    assert heard == [["pay-1", "web-1"]]
    assert client.get(url).status_code == 405
    assert (
        client.post(f"/vulnerabilities/CVE-0000-0000/decisions/{decision.pk}/revoke").status_code
        == 404
    )


def test_page_shows_decisions_and_triage_state(client: Client, hosts: dict[str, Host]) -> None:
    DecisionFactory(vuln=VULN, scope="label", scope_value="team=web", reason="<b>isolated</b>")
    html = client.get(URL).content.decode()
    assert "&lt;b&gt;isolated&lt;/b&gt;" in html
    assert "1 place not triaged" in html
    assert 'class="triaged"' in html and 'class="open"' in html
    assert "Revoke" in html


def test_decision_on_an_unknown_vulnerability_is_404(
    client: Client, hosts: dict[str, Host]
) -> None:
    assert client.post("/vulnerabilities/CVE-1999-0001/", decision_form()).status_code == 404
    assert not VulnDecision.objects.exists()


def test_csrf_is_required(hosts: dict[str, Host]) -> None:
    guarded = Client(enforce_csrf_checks=True)
    guarded.force_login(UserFactory(username="eve"))
    assert guarded.post(URL, decision_form()).status_code == 403
    assert not VulnDecision.objects.exists()

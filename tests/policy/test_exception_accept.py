"""Accepting a risk from a finding: the form prefilled for one subject, "matches N findings"
before saving (the account's hosts only), the 30/90/180-day presets, the owner by default,
the way back (this site only), and a revocation that asks first."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access.models import Team
from access.scope import Scope
from findings.models import Container, Finding
from policy import exceptions as services
from policy import preview
from policy.models import RiskException
from rules import Outcome
from tests.factories import FindingFactory, HostFactory, RiskExceptionFactory, UserFactory
from tests.policy.exception_helpers import CONTAINER_RULE, evaluation

pytestmark = pytest.mark.django_db
URL = "/exceptions/"
API = "a" * 64
DB = "b" * 64


@pytest.fixture
def client(client: Client) -> Client:
    client.force_login(UserFactory(username="maya", email="maya@example.org"))
    return client


def fleet() -> None:
    """pay-1 (team pay): payments-api and payments-db both fail CTR-PRIVILEGED; web-1 (team
    web): web-api fails it too."""
    pay = HostFactory(name="pay-1", labels={"team": "pay"})
    web = HostFactory(name="web-1", labels={"team": "web"})
    for host, key, name, ref in (
        (pay, API, "payments-api", "registry.example/pay/api:1"),
        (pay, DB, "payments-db", "postgres:16"),
        (web, "c" * 64, "web-api", "registry.example/web/api:2"),
    ):
        Container.objects.create(host=host, container_id=key, name=name, image_ref=ref)
        FindingFactory(host=host, rule_id=CONTAINER_RULE, subject_key=key, subject_name=name)


def accept_link(host: str, name: str) -> dict[str, str]:
    return {
        "rule_id": CONTAINER_RULE,
        "host": host,
        "container_pattern": name,
        "next": f"/hosts/{host}/",
    }


def text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_the_link_prefills_one_container_with_owner_preset_and_count(client: Client) -> None:
    fleet()
    page = text(client.get(URL, accept_link("pay-1", "payments-api")))

    assert 'name="container_pattern" value="payments-api"' in page
    assert 'name="host" value="pay-1"' in page
    assert 'name="owner" value="maya@example.org"' in page
    assert re.search(r'value="90"[^>]*checked', page)
    for days in ("30 days", "90 days", "180 days"):
        assert days in page
    assert "Matches 1 finding" in page
    assert '<input type="hidden" name="next" value="/hosts/pay-1/">' in page
    assert 'href="/hosts/pay-1/"' in page  # the way back
    # Arrived from a finding: the form comes before the list.
    assert page.index('id="accept-risk"') < page.index("Filter exceptions")


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)", "hosts/x"]
)
def test_back_goes_to_this_site_only(client: Client, next_url: str) -> None:
    page = client.get(URL, {"rule_id": CONTAINER_RULE, "next": next_url}).content.decode()
    form = page[page.index('id="exception-form"') :]
    assert 'name="next"' not in form.split("</form>")[0]
    assert "Back to where you were" not in page and "Cancel" not in form.split("</form>")[0]


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"host": "pay-1", "container_pattern": "payments-api"}, "Matches 1 finding"),
        ({"host": "pay-1"}, "Matches 2 findings"),
        ({"container_pattern": "payments-*"}, "Matches 2 findings"),
        ({"host": "pay-1", "image_pattern": "postgres:*"}, "Matches 1 finding"),
        ({"host": "pay-1", "container_pattern": "nothing"}, "Matches no open finding"),
        ({}, "Choose a scope"),
        ({"host": "nowhere"}, "No host of that name"),
    ],
)
def test_preview_counts_what_the_scan_would_accept(
    client: Client, fields: dict[str, str], expected: str
) -> None:
    fleet()
    params = {"rule_id": CONTAINER_RULE, **fields}
    response = client.get(reverse("exception-preview"), params, headers={"hx-request": "true"})
    assert response.status_code == 200
    assert expected in text(response)


def test_preview_counts_the_accounts_hosts_only(client: Client) -> None:
    fleet()
    pay = Team.objects.create(name="Payments", label="pay")
    client.force_login(UserFactory(username="omar", role="operator", role__teams=[pay]))
    response = client.get(
        reverse("exception-preview"), {"rule_id": CONTAINER_RULE, "container_pattern": "*-api"}
    )
    # payments-api on pay-1; web-api on web-1 is another team's, not even counted.
    assert "Matches 1 finding" in text(response) and "web" not in text(response)


def test_preview_function_matches_the_scan_decision() -> None:
    fleet()
    pay = HostFactory(name="pay-1")
    draft = preview.Draft(rule_id=CONTAINER_RULE, host=pay, container_pattern="payments-api")
    assert preview.preview(draft, Scope.everything()) == preview.Preview(1, 1)


def post(client: Client, **changes: str) -> Any:
    data = {
        **accept_link("pay-1", "payments-api"),
        "reason": "legacy, replaced in Q3",
        "owner": "maya@example.org",
        "expires_in": "30",
        "expires_on": "",
    }
    data.update(changes)
    return client.post(URL, data, headers={"hx-request": "true"})


def test_a_preset_sets_the_expiry(client: Client) -> None:
    fleet()
    response = post(client)
    assert response.status_code == 200, text(response)
    exc = RiskException.objects.get()
    assert timezone.localtime(exc.expires_at).date() == date.today() + timedelta(days=30)
    assert (exc.host.name, exc.container_pattern) == ("pay-1", "payments-api")
    # Saved: the way back is still offered.
    assert 'href="/hosts/pay-1/"' in text(response)


def test_a_typed_date_wins_over_the_preset(client: Client) -> None:
    fleet()
    day = date.today() + timedelta(days=45)
    assert post(client, expires_on=day.isoformat()).status_code == 200
    assert timezone.localtime(RiskException.objects.get().expires_at).date() == day


@pytest.mark.parametrize(
    "changes, error",
    [
        ({"expires_on": (date.today() - timedelta(days=1)).isoformat()}, "Pick a date after today"),
        ({"expires_in": "", "expires_on": ""}, "Pick how long it holds, or a date"),
        ({"expires_in": "7"}, "Select a valid choice"),
    ],
)
def test_a_bad_expiry_is_refused_in_place(
    client: Client, changes: dict[str, str], error: str
) -> None:
    fleet()
    response = post(client, **changes)
    assert response.status_code == 422
    page = text(response)
    assert error in page
    # Nothing typed is lost.
    assert "legacy, replaced in Q3" in page and 'value="payments-api"' in page
    assert not RiskException.objects.exists()


def test_an_exception_on_one_container_accepts_that_container_only() -> None:
    host = HostFactory(name="pay-1")
    exc = RiskExceptionFactory(host=host, container_pattern="payments-api")
    api = evaluation(CONTAINER_RULE)
    other = replace(api, subject_key="d" * 64, subject_name="payments-db")
    out = services.apply([api, other], host, timezone.now())
    assert [ev.accepted_by for ev in out] == [exc.pk, None]
    assert all(ev.outcome is Outcome.FAIL for ev in out)


def test_revoking_asks_first(client: Client) -> None:
    host = HostFactory(name="pay-1")
    exc = RiskExceptionFactory(host=host, container_pattern="payments-api")
    FindingFactory(host=host, accepted=True, exception=exc, subject_name="payments-api")
    url = reverse("exception-revoke", args=[exc.pk])

    listing = client.get(URL).content.decode()
    assert f'href="{url}"' in listing  # a link to the confirmation, not a POST button
    page = text(client.get(url))
    assert "Revoke this exception?" in page and "1 accepted finding will count" in page
    exc.refresh_from_db()
    assert exc.revoked_at is None  # GET changed nothing

    assert client.post(url).status_code == 302
    exc.refresh_from_db()
    assert exc.revoked_at is not None


def test_an_expired_exception_is_not_offered_for_revocation(client: Client) -> None:
    host = HostFactory(name="pay-1")
    exc = RiskExceptionFactory(host=host, days=-1)
    url = reverse("exception-revoke", args=[exc.pk])

    assert f'href="{url}"' not in client.get(URL, {"status": "expired"}).content.decode()
    assert "expired already" in text(client.get(url))
    response = client.post(url, headers={"hx-request": "true"})
    assert "expired already" in text(response)
    exc.refresh_from_db()
    assert exc.revoked_at is None


def test_profiles_and_exceptions_say_how_they_differ(client: Client) -> None:
    for url in (URL, reverse("profiles")):
        page = text(client.get(url))
        assert "does not apply to" in page and "owner and an expiry" in page, url


def test_accepted_findings_stay_open() -> None:
    # Sanity for the pages' "accepted" group: acceptance never resolves a finding.
    finding = FindingFactory(accepted=True)
    assert Finding.objects.open().filter(pk=finding.pk).exists()

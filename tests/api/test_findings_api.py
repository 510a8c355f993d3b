"""GET /api/v1/findings/: the fleet's open findings, filtered as the pages filter them, within
the token's teams, in cursor pages, with an ETag."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from rules import Severity
from tests.api.conftest import bearer
from tests.factories import FindingFactory, HostFactory, RiskExceptionFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet() -> dict[str, Any]:
    pay = HostFactory(name="pay-1", labels={"team": "pay", "env": "prod"})
    web = HostFactory(name="web-1", labels={"team": "web"})
    critical = FindingFactory(host=pay, subject_name="pay-api")
    low = FindingFactory(
        host=pay, rule_id="IMG-LATEST-TAG", severity=Severity.LOW, subject_kind="image"
    )
    FindingFactory(host=pay, resolved_at=timezone.now())  # resolved: never listed
    other = FindingFactory(host=web, severity=Severity.HIGH)
    exc = RiskExceptionFactory(host=pay)
    low.accepted, low.exception = True, exc
    low.save()
    return {"pay": pay, "web": web, "critical": critical, "low": low, "other": other}


def get(client: Client, raw: str, url: str, **extra: Any) -> Any:
    return client.get(url, **bearer(raw), **extra)


def test_lists_open_findings_of_the_tokens_scope_only(
    api: Client, token_for: Callable[..., str], fleet: dict[str, Any]
) -> None:
    admin = UserFactory()
    everything = get(api, token_for(admin), "/api/v1/findings/").json()
    assert {f["id"] for f in everything["results"]} == {
        fleet["critical"].pk,
        fleet["low"].pk,
        fleet["other"].pk,
    }
    pay_only = get(api, token_for(admin, "operator", ("pay",)), "/api/v1/findings/").json()
    assert {f["host"] for f in pay_only["results"]} == {"pay-1"}
    row = next(f for f in pay_only["results"] if f["id"] == fleet["critical"].pk)
    assert row["rule_id"] == "CTR-PRIVILEGED" and row["severity"] == "critical"
    assert row["subject"]["name"] == "pay-api" and row["title"]
    assert row["evidence"] == [{"field": "HostConfig.Privileged", "value": "true"}]
    assert row["accepted"] is False and row["exception"] is None
    accepted = next(f for f in pay_only["results"] if f["id"] == fleet["low"].pk)
    assert accepted["accepted"] is True
    assert accepted["exception"]["owner"] == "payments@example.org"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?severity=critical", {"critical"}),
        ("?severity=low&severity=high", {"low", "other"}),
        ("?rule=IMG-LATEST-TAG", {"low"}),
        ("?label=team=web", {"other"}),
        ("?host=pay-1&state=accepted", {"low"}),
        ("?kind=image", {"low"}),
        ("?search=pay-api", {"critical"}),
        ("?severity=bogus&label=", {"critical", "low", "other"}),  # lenient, like the pages
    ],
)
def test_filters_are_the_pages_filters(
    api: Client, token_for: Callable[..., str], fleet: dict[str, Any], query: str, expected: Any
) -> None:
    found = get(api, token_for(UserFactory()), "/api/v1/findings/" + query).json()
    assert {f["id"] for f in found["results"]} == {fleet[name].pk for name in expected}


def test_a_label_filter_never_widens_the_scope(
    api: Client, token_for: Callable[..., str], fleet: dict[str, Any]
) -> None:
    raw = token_for(UserFactory(), "viewer", ("pay",))
    assert get(api, raw, "/api/v1/findings/?label=team=web").json()["results"] == []


def test_cursor_pages_walk_every_finding_once(
    api: Client, token_for: Callable[..., str], fleet: dict[str, Any]
) -> None:
    raw = token_for(UserFactory())
    seen: list[int] = []
    url: str | None = "/api/v1/findings/?limit=1"
    while url:
        page = get(api, raw, url).json()
        assert len(page["results"]) <= 1
        seen += [f["id"] for f in page["results"]]
        url = page["next"]
    assert sorted(seen) == sorted({fleet[n].pk for n in ("critical", "low", "other")})
    assert len(seen) == 3


def test_reads_carry_an_etag_that_answers_304(
    api: Client, token_for: Callable[..., str], fleet: dict[str, Any]
) -> None:
    raw = token_for(UserFactory())
    first = get(api, raw, "/api/v1/findings/")
    assert first.status_code == 200 and first["ETag"]
    again = get(api, raw, "/api/v1/findings/", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    FindingFactory(host=fleet["web"])
    assert get(api, raw, "/api/v1/findings/", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 200

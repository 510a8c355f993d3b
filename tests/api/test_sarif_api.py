"""GET /api/v1/hosts/{name}/sarif/: a host's open findings as SARIF 2.1.0 (accepted ones as
suppressions), for code-scanning uploads from CI; an audited export, for roles that may
export, on hosts of the token's teams."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from api.views_data import findings as findings_views
from audit.models import AuditEvent
from rules import Severity
from tests.api.conftest import bearer
from tests.factories import FindingFactory, HostFactory, RiskExceptionFactory, UserFactory
from tests.findings.sarif_check import check_sarif

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet() -> dict[str, Any]:
    pay = HostFactory(name="pay-1", labels={"team": "pay"})
    FindingFactory(host=pay)
    exc = RiskExceptionFactory(host=pay, rule_id="IMG-LATEST-TAG")
    FindingFactory(
        host=pay,
        rule_id="IMG-LATEST-TAG",
        severity=Severity.LOW,
        subject_kind="image",
        accepted=True,
        exception=exc,
    )
    FindingFactory(host=HostFactory(name="web-1", labels={"team": "web"}))
    return {"pay": pay}


def get(client: Client, raw: str, url: str, **extra: Any) -> Any:
    return client.get(url, **bearer(raw), **extra)


def test_sarif_of_a_host_is_valid_and_audited(
    api: Client, token_for: Callable[..., str], fleet: dict[str, Any]
) -> None:
    raw = token_for(UserFactory(), "security")
    response = get(api, raw, "/api/v1/hosts/pay-1/sarif/", HTTP_ACCEPT="application/sarif+json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/sarif+json")
    log = response.json()
    check_sarif(log)
    results = log["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"CTR-PRIVILEGED", "IMG-LATEST-TAG"}
    assert all(r["properties"]["host"] == "pay-1" for r in results)
    # The accepted finding is a suppression: code scanning shows it as dismissed.
    assert [r["ruleId"] for r in results if r.get("suppressions")] == ["IMG-LATEST-TAG"]
    event = AuditEvent.objects.get(action="export.downloaded")
    assert event.target_id == str(fleet["pay"].pk)
    assert event.details["what"] == "api.host.sarif"
    # A client asking for JSON gets the same log.
    assert get(api, raw, "/api/v1/hosts/pay-1/sarif/").json() == log


def test_sarif_needs_export_and_the_hosts_team(
    api: Client, token_for: Callable[..., str], fleet: dict[str, Any]
) -> None:
    admin = UserFactory()
    operator = token_for(admin, "operator", ("pay",))
    refused = get(api, operator, "/api/v1/hosts/pay-1/sarif/")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    other_team = token_for(admin, "security", ("web",))
    assert get(api, other_team, "/api/v1/hosts/pay-1/sarif/").status_code == 404
    assert get(api, token_for(admin, "security"), "/api/v1/hosts/nope/sarif/").status_code == 404
    assert not AuditEvent.objects.filter(action="export.downloaded").exists()


def test_sarif_stops_at_code_scannings_limit_and_says_so(
    api: Client,
    token_for: Callable[..., str],
    fleet: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(findings_views, "SARIF_LIMIT", 1)
    log = get(api, token_for(UserFactory(), "security"), "/api/v1/hosts/pay-1/sarif/").json()
    check_sarif(log)
    run = log["runs"][0]
    # The most severe first: the critical finding is kept.
    assert [r["ruleId"] for r in run["results"]] == ["CTR-PRIVILEGED"]
    assert run["properties"]["truncated"] is True

"""Read endpoints: a host's posture, the rule catalogue, conditional GETs (ETag and
Last-Modified), the per-token rate limit."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils.http import http_date

from rules.base import REGISTRY
from tests.api.conftest import bearer
from tests.factories import FindingFactory, HostFactory, HostPostureFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_posture_has_score_coverage_findings_with_evidence(api: Client, token_for: Any) -> None:
    host = HostFactory(name="pay-1", labels={"team": "pay"})
    posture = HostPostureFactory(host=host)
    FindingFactory(host=host, opened_scan=posture.current_scan)
    FindingFactory(
        host=host, opened_scan=posture.current_scan, rule_id="IMG-LATEST-TAG", accepted=True
    )
    raw = token_for(UserFactory(role="viewer"), role="viewer")
    body = api.get("/api/v1/hosts/pay-1/posture/", **bearer(raw)).json()
    assert body["score"] == posture.score and body["grade"] == posture.grade
    assert set(body["coverage"]) >= {"assessed", "applicable", "percent", "not_assessed"}
    assert set(body["failing"]) == {"critical", "high", "medium", "low"}
    assert body["open_kev"] == 0
    findings = {f["rule_id"]: f for f in body["findings"]}
    assert findings["IMG-LATEST-TAG"]["accepted"] is True
    first = next(f for f in body["findings"] if not f["accepted"])
    assert first["evidence"] and set(first["evidence"][0]) == {"field", "value"}


def test_rules_catalogue_and_one_rule(api: Client, token_for: Any) -> None:
    raw = token_for(UserFactory(role="viewer"), role="viewer")
    rules = api.get("/api/v1/rules/", **bearer(raw)).json()
    assert len(rules) == len(REGISTRY)
    one = api.get("/api/v1/rules/CTR-PRIVILEGED/", **bearer(raw)).json()
    assert one["id"] == "CTR-PRIVILEGED" and one["severity"] in ("critical", "high")
    assert api.get("/api/v1/rules/NOPE/", **bearer(raw)).status_code == 404


def test_a_conditional_get_answers_304(api: Client, token_for: Any) -> None:
    host = HostFactory(name="pay-1")
    posture = HostPostureFactory(host=host)
    auth = bearer(token_for(UserFactory(role="viewer"), role="viewer"))
    first = api.get("/api/v1/hosts/pay-1/", **auth)
    etag = first["ETag"]
    assert api.get("/api/v1/hosts/pay-1/", HTTP_IF_NONE_MATCH=etag, **auth).status_code == 304
    assert api.get("/api/v1/hosts/pay-1/", HTTP_IF_NONE_MATCH='"x"', **auth).status_code == 200
    read = api.get("/api/v1/hosts/pay-1/posture/", **auth)
    assert read["Last-Modified"] == http_date(int(posture.last_attempt_at.timestamp()))
    since = read["Last-Modified"]
    again = api.get("/api/v1/hosts/pay-1/posture/", HTTP_IF_MODIFIED_SINCE=since, **auth)
    assert again.status_code == 304


def test_a_token_over_its_rate_is_429_with_retry_after(
    api: Client, token_for: Any, settings: Any
) -> None:
    settings.POSTURE_API = {**settings.POSTURE_API, "RATE": "3/min"}
    user = UserFactory(role="viewer")
    raw, other = token_for(user, role="viewer"), token_for(user, role="viewer")
    statuses = [api.get("/api/v1/rules/", **bearer(raw)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = api.get("/api/v1/rules/", **bearer(raw))
    assert limited.json()["error"]["code"] == "throttled"
    assert 0 < int(limited["Retry-After"]) <= 60
    assert api.get("/api/v1/rules/", **bearer(other)).status_code == 200, "per token"

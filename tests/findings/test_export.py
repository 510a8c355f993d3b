"""/findings.csv, /findings.json and /findings.sarif: the fleet's open findings, filtered like
the fleet page, as downloads that spreadsheets and scanners can take safely."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from findings.sarif import FINGERPRINT_KEY
from findings.views import export as views_export
from rules import REGISTRY, Severity
from tests.factories import FindingFactory, HostFactory, HostPostureFactory, UserFactory
from tests.findings.sarif_check import check_sarif

pytestmark = pytest.mark.django_db

FORMATS = ("findings-csv", "findings-json", "findings-sarif")
ALL = {"dev-1/web", "prod-1/api", "prod-1/db"}
HOSTILE = 'x"},\n<img src=x onerror=alert(1)>&amp;\\'


@pytest.fixture
def user_client(client: Client) -> Client:
    client.force_login(UserFactory())
    return client


def body(response: Any) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    return raw.decode()


def get_csv(client: Client, **params: Any) -> list[dict[str, str]]:
    response = client.get(reverse("findings-csv"), params)
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(body(response))))


def get_json(client: Client, name: str, **params: Any) -> dict[str, Any]:
    response = client.get(reverse(name), params)
    assert response.status_code == 200
    data: dict[str, Any] = json.loads(body(response))
    return data


def a_rule(severity: Severity) -> str:
    return min(r.id for r in REGISTRY.values() if r.severity == severity)


def fleet() -> None:
    """prod-1 (prod, grade C, failing): a critical and a medium; dev-1 (dev, grade A, not
    counted as failing): a low; prod-1 also has a resolved finding, which no export lists."""
    prod = HostFactory(name="prod-1", labels={"env": "prod"})
    dev = HostFactory(name="dev-1", labels={"env": "dev"})
    HostPostureFactory(host=prod, score=72, grade="C")
    HostPostureFactory(host=dev, score=95, grade="A", failing_high=0, failing_medium=0)
    FindingFactory(host=prod, rule_id="CTR-PRIVILEGED", subject_name="api")
    FindingFactory(
        host=prod, rule_id=a_rule(Severity.MEDIUM), severity=2, subject_name="db", evidence=[]
    )
    FindingFactory(host=dev, rule_id=a_rule(Severity.LOW), severity=1, subject_name="web")
    FindingFactory(host=prod, subject_name="old", resolved_at=timezone.now())


@pytest.mark.parametrize("name", FORMATS)
def test_exports_need_a_login(client: Client, name: str) -> None:
    response = client.get(reverse(name))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("name", "content_type", "ext"),
    [
        ("findings-csv", "text/csv; charset=utf-8", "csv"),
        ("findings-json", "application/json", "json"),
        ("findings-sarif", "application/sarif+json", "sarif"),
    ],
)
def test_exports_are_attachments(user_client: Client, name: str, content_type: str, ext: str):
    response = user_client.get(reverse(name))

    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="posture-findings-')
    assert disposition.endswith(f'.{ext}"')
    assert response.streaming == (ext == "csv")


def test_csv_lists_open_findings_host_by_host(user_client: Client) -> None:
    fleet()

    rows = get_csv(user_client)

    assert [(r["host"], r["subject_name"], r["severity"]) for r in rows] == [
        ("dev-1", "web", "low"),
        ("prod-1", "api", "critical"),
        ("prod-1", "db", "medium"),
    ]
    api = rows[1]
    assert api["rule_id"] == "CTR-PRIVILEGED"
    assert api["title"] == REGISTRY["CTR-PRIVILEGED"].title
    assert api["evidence"] == "HostConfig.Privileged = true"


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ALL),
        ({"label": "env=prod"}, {"prod-1/api", "prod-1/db"}),
        ({"q": "dev"}, {"dev-1/web"}),
        ({"grade": "A"}, {"dev-1/web"}),
        ({"status": "failing"}, {"prod-1/api", "prod-1/db"}),
        ({"status": "stale"}, set()),
        ({"status": "scanning"}, set()),
        ({"rule": "CTR-PRIVILEGED"}, {"prod-1/api"}),
        ({"rule": "NO-SUCH-RULE"}, set()),
        ({"severity": ["critical", "low"]}, {"prod-1/api", "dev-1/web"}),
        ({"severity": "medium", "label": "env=dev"}, set()),
        # Unknown values are ignored, as on the fleet page.
        ({"severity": "severe", "grade": "Z", "status": "?"}, ALL),
    ],
)
def test_every_format_takes_the_fleet_filters(
    user_client: Client, name: str, params: dict[str, Any], expected: set[str]
) -> None:
    fleet()

    if name == "findings-csv":
        got = {f"{r['host']}/{r['subject_name']}" for r in get_csv(user_client, **params)}
    elif name == "findings-json":
        data = get_json(user_client, name, **params)
        got = {f"{f['host']}/{f['subject']['name']}" for f in data["findings"]}
    else:
        log = get_json(user_client, name, **params)
        check_sarif(log)
        got = {
            "/".join(loc["name"] for loc in r["locations"][0]["logicalLocations"])
            for r in log["runs"][0]["results"]
        }

    assert got == expected


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_csv_cells_that_a_spreadsheet_would_run_are_defused(user_client: Client, cell: str):
    host = HostFactory(name="h1")
    FindingFactory(host=host, subject_name=cell, evidence=[{"field": cell, "value": "v"}])

    (row,) = get_csv(user_client)

    assert row["subject_name"] == "'" + cell
    assert row["evidence"] == f"'{cell} = v"
    assert row["host"] == "h1"


def test_hostile_names_stay_data_in_every_format(user_client: Client) -> None:
    FindingFactory(
        host=HostFactory(name="h1"),
        subject_name=HOSTILE,
        evidence=[{"field": "Config.Labels", "value": HOSTILE}],
    )

    (row,) = get_csv(user_client)
    assert row["subject_name"] == HOSTILE
    assert row["evidence"] == f"Config.Labels = {HOSTILE}"
    for name in ("findings-json", "findings-sarif"):
        raw = body(user_client.get(reverse(name)))
        # JSON escapes the quotes and newline; <, > and & are escaped too, so no markup
        # reaches a browser that sniffs the download.
        assert "<img" not in raw and "&amp;" not in raw
        data = json.loads(raw)
        if name == "findings-json":
            (finding,) = data["findings"]
            assert finding["subject"]["name"] == HOSTILE
            assert finding["evidence"] == [{"field": "Config.Labels", "value": HOSTILE}]
        else:
            check_sarif(data)
            (result,) = data["runs"][0]["results"]
            assert result["properties"]["subject"]["name"] == HOSTILE


def test_sarif_fingerprints_are_the_same_on_every_download(user_client: Client) -> None:
    fleet()

    def prints() -> list[str]:
        log = get_json(user_client, "findings-sarif")
        return [r["partialFingerprints"][FINGERPRINT_KEY] for r in log["runs"][0]["results"]]

    first = prints()
    assert len(set(first)) == 3
    assert prints() == first


@pytest.mark.parametrize("name", FORMATS)
def test_query_count_does_not_grow_with_hosts(user_client: Client, name: str) -> None:
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = user_client.get(reverse(name), {"label": "env=prod", "grade": "C"})
            body(response)
        return len(ctx.captured_queries)

    def add_host(n: int) -> None:
        host = HostFactory(name=f"prod-{n}", labels={"env": "prod"})
        HostPostureFactory(host=host, grade="C")
        FindingFactory(host=host)
        FindingFactory(host=host, rule_id=a_rule(Severity.HIGH), severity=3)

    add_host(0)
    few = count()
    for n in range(1, 8):
        add_host(n)
    assert count() == few


def test_json_and_sarif_say_when_they_were_cut(user_client: Client, monkeypatch) -> None:
    monkeypatch.setattr(views_export, "EXPORT_LIMIT", 2)
    fleet()

    data = get_json(user_client, "findings-json")
    log = get_json(user_client, "findings-sarif")

    assert data["truncated"] is True and len(data["findings"]) == 2
    assert log["runs"][0]["properties"]["truncated"] is True
    assert len(log["runs"][0]["results"]) == 2
    assert len(get_csv(user_client)) == 3  # streamed: never cut

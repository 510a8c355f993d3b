"""The catalogue as JSON: every rule with all its metadata and its fleet numbers."""

from __future__ import annotations

import dataclasses
import json

import pytest
from django.test import Client
from django.urls import reverse

from rules import REGISTRY, Rule
from rules.base import CATALOGUE_VERSION
from tests.factories import HostFactory, HostPostureFactory, UserFactory

pytestmark = pytest.mark.django_db

METADATA = {f.name for f in dataclasses.fields(Rule)} - {"check"}


@pytest.fixture
def user_client(client: Client) -> Client:
    client.force_login(UserFactory())
    return client


def test_export_has_every_rule_with_its_metadata_and_fleet_numbers(user_client: Client):
    rule_id = sorted(REGISTRY)[0]
    summary = {rule_id: {"pass": 1, "fail": 3, "na": 0, "unknown": 0, "manual": 0}}
    HostPostureFactory(host=HostFactory(name="a"), rule_summary=summary)

    response = user_client.get(reverse("rules-json"))
    data = json.loads(response.content)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "Content-Disposition" not in response
    assert data["version"] == CATALOGUE_VERSION
    assert data["fleet"] == {"hosts": 1}
    assert [r["id"] for r in data["rules"]] == sorted(REGISTRY)
    for row in data["rules"]:
        rule = REGISTRY[row["id"]]
        assert set(row) >= METADATA
        assert row["severity"] == rule.severity.label
        assert row["owasp"] == list(rule.owasp) and row["cis_v18"] == list(rule.cis_v18)
        assert row["source"] == rule.source.value and row["cis_level"] == rule.cis_level
        assert row["remediation"]["en"] == rule.remediation.en
        assert set(row["remediation"]) >= {"docker_run", "compose", "kubernetes", "daemon_json"}
        assert set(row["fleet"]) >= {"pass_rate", "hosts_failing", "hosts_assessed"}
    first = data["rules"][0]["fleet"]
    assert first["pass_rate"] == 0.25
    assert (first["hosts_failing"], first["hosts_assessed"], first["passing"]) == (1, 1, 1)
    numbered = [row["rule"] for row in data["owasp"] if isinstance(row["rule"], int)]
    assert numbered == list(range(14))
    assert data["summary"]["rules"] == len(REGISTRY)


def test_download_names_the_file_after_the_catalogue_version(user_client: Client):
    response = user_client.get(reverse("rules-json"), {"download": "1"})

    assert response["Content-Disposition"] == (
        f'attachment; filename="posture-rules-{CATALOGUE_VERSION}.json"'
    )
    assert len(json.loads(response.content)["rules"]) == len(REGISTRY)


def test_export_needs_a_login(client: Client):
    response = client.get(reverse("rules-json"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))

"""POST /api/v1/inventory/ (import, dry run, prune) and GET (export), through a token:
the caller's teams only, keys by reference under POSTURE_INVENTORY_SECRETS_DIR only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.test import Client

from access.models import Team
from audit.models import AuditEvent
from hosts.models import Host
from tests.api.conftest import bearer
from tests.factories import HostFactory, UserFactory, make_tls_pem

pytestmark = pytest.mark.django_db
URL = "/api/v1/inventory/"


def tls_host(name: str, team: str, n: int) -> dict[str, Any]:
    return {
        "name": name,
        "endpoint": f"tcp://127.0.4.{n}:2376",
        "labels": {"team": team},
        "tls": {"ca": "file:ca.pem", "cert": "file:cert.pem", "key": "file:key.pem"},
    }


@pytest.fixture
def secrets_dir(tmp_path: Path, settings: Any) -> Path:
    pem = make_tls_pem()
    directory = tmp_path / "secrets"
    directory.mkdir()
    for name, text in (
        ("ca.pem", pem.ca_cert),
        ("cert.pem", pem.client_cert),
        ("key.pem", pem.client_key),
    ):
        (directory / name).write_text(text)
    settings.POSTURE_INVENTORY_SECRETS_DIR = str(directory)
    return directory


def post(
    api: Client, raw: str, body: Any, query: str = "", content_type: str = "application/yaml"
) -> Any:
    text = body if isinstance(body, str) else yaml.safe_dump({"hosts": body})
    return api.post(URL + query, data=text, content_type=content_type, **bearer(raw))


def test_an_operator_imports_dry_runs_and_prunes_within_its_team(
    api: Client, token_for: Any, secrets_dir: Path
) -> None:
    other = HostFactory(name="web-1", labels={"team": "web"})
    team, _ = Team.objects.get_or_create(label="pay", defaults={"name": "pay"})
    operator = UserFactory(role="operator", role__teams=[team])
    raw = token_for(operator, role="operator", teams=("pay",))
    hosts = [tls_host("pay-1", "pay", 1), tls_host("pay-2", "pay", 2)]

    dry = post(api, raw, hosts, "?dry_run=1")
    assert dry.status_code == 200, dry.content
    assert dry.json()["created"] == 2 and dry.json()["applied"] is False
    assert not Host.objects.filter(name__startswith="pay").exists()

    done = post(api, raw, hosts)
    assert done.json()["created"] == 2 and done.json()["applied"] is True
    assert Host.objects.get(name="pay-1").has_tls_client_key
    again = post(api, raw, json.dumps({"hosts": hosts}), content_type="application/json")
    assert (again.json()["created"], again.json()["changed"], again.json()["unchanged"]) == (
        0,
        0,
        2,
    )

    # Another team's host: neither changed (its name is taken) nor pruned.
    refused = post(api, raw, [tls_host("web-1", "pay", 3)])
    assert refused.status_code == 400
    assert "web-1" in json.dumps(refused.json()) and "already exists" in json.dumps(refused.json())
    refused = post(api, raw, [tls_host("pay-3", "web", 3)])
    assert refused.status_code == 400 and "hosts of your teams only" in json.dumps(refused.json())

    pruned = post(api, raw, hosts[:1], "?prune=1")
    assert pruned.json()["removed"] == 1
    assert [c["name"] for c in pruned.json()["changes"]] == ["pay-2"]
    assert set(Host.objects.values_list("name", flat=True)) == {"pay-1", "web-1"}
    assert Host.objects.get(pk=other.pk).labels == {"team": "web"}
    assert AuditEvent.objects.filter(action="host.deleted", target_repr="pay-2").exists()

    exported = api.get(URL, **bearer(raw))
    assert exported.status_code == 200 and exported["Content-Type"].startswith("application/yaml")
    names = [h["name"] for h in yaml.safe_load(exported.content)["hosts"]]
    assert names == ["pay-1"]
    assert b"PRIVATE KEY" not in exported.content
    csv = api.get(URL + "?output=csv", **bearer(raw))
    assert csv.content.startswith(b"name,endpoint,labels")


def test_the_api_reads_no_file_outside_the_secrets_directory_nor_the_environment(
    api: Client, token_for: Any, secrets_dir: Path, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    raw = token_for(UserFactory(), role="admin")
    monkeypatch.setenv("POSTURE_TEST_KEY", (secrets_dir / "key.pem").read_text())
    outside = secrets_dir.parent / "outside.pem"
    outside.write_text((secrets_dir / "key.pem").read_text())
    (secrets_dir / "link.pem").symlink_to(outside)
    for key, why in (
        ("env:POSTURE_TEST_KEY", "env: references are not accepted here"),
        (f"file:{outside}", "is outside the inventory secrets directory"),
        ("file:../outside.pem", "is outside the inventory secrets directory"),
        ("file:link.pem", "is outside the inventory secrets directory"),
    ):
        host = tls_host("a1", "pay", 1)
        host["tls"]["key"] = key
        response = post(api, raw, [host])
        assert response.status_code == 400, key
        assert why in json.dumps(response.json()), (key, response.json())
    assert not Host.objects.exists()

    settings.POSTURE_INVENTORY_SECRETS_DIR = ""
    response = post(api, raw, [tls_host("a1", "pay", 1)])
    assert "POSTURE_INVENTORY_SECRETS_DIR is not set" in json.dumps(response.json())


def test_a_viewer_may_neither_import_nor_export(api: Client, token_for: Any) -> None:
    raw = token_for(UserFactory(role="viewer"), role="viewer")
    assert api.get(URL, **bearer(raw)).status_code == 403
    assert post(api, raw, []).status_code == 403


def test_csv_body_and_a_bad_document(api: Client, token_for: Any, secrets_dir: Path) -> None:
    raw = token_for(UserFactory(), role="admin")
    body = "name,endpoint,labels\nlocal1,unix:///var/run/docker.sock,env=ci\n"
    response = post(api, raw, body, content_type="text/csv")
    assert response.status_code == 200 and response.json()["created"] == 1
    bad = post(api, raw, "hosts: [", content_type="application/yaml")
    assert bad.status_code == 400 and "not valid YAML" in json.dumps(bad.json())

"""The OpenAPI schema is generated from the code and valid: drf-spectacular's own
validation (JSON Schema of OpenAPI 3), failing on any warning of the generator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_schema_is_valid_without_warnings(tmp_path: Path) -> None:
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path in ("/api/v1/hosts/", "/api/v1/hosts/{name}/posture/", "/api/v1/scans/{id}/"):
        assert path in paths, path
    assert "bearerAuth" in schema["components"]["securitySchemes"]
    host = schema["components"]["schemas"]["Host"]["properties"]
    assert not {"tls_client_key", "ssh_private_key", "ssh_access_key"} & set(host), "write-only"


def test_schema_and_docs_are_served_to_a_signed_in_account(token_for: Any) -> None:
    client = Client()
    user = UserFactory(role="viewer")
    answer = client.get(
        "/api/v1/schema/?format=json", HTTP_AUTHORIZATION="Bearer " + token_for(user, role="viewer")
    )
    assert answer.status_code == 200 and answer.json()["info"]["title"] == "Posture API"
    # A person opening the docs without a session goes to the login page, not a 401 body.
    assert client.get("/api/v1/docs/", HTTP_ACCEPT="text/html").status_code == 302
    client.force_login(user)
    page = client.get("/api/v1/docs/", HTTP_ACCEPT="text/html").content.decode()
    assert "<script>" not in page and "swagger-ui-bundle.js" in page and "cdn" not in page.lower()

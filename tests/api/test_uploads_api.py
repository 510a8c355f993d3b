"""POST /api/v1/uploads/: a Trivy JSON report or a CycloneDX document from CI, merged by
vulns.ingest with its limits and its words for a bad document; audited; the hosts running
the image rescanned; a team-scoped token may only feed its own hosts' images."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from api.views_data import vulns as views
from audit.models import AuditEvent
from findings.models import Image
from rules.facts import layers_key
from scans.models import ScanRun
from tests.api.conftest import bearer
from tests.factories import HostFactory, UserFactory
from vulns.models import ImageInventory, ImageVulnerability

pytestmark = pytest.mark.django_db

LAYERS = ["sha256:" + hashlib.sha256(str(n).encode()).hexdigest() for n in range(3)]


def trivy(layers: list[str] = LAYERS) -> bytes:
    return json.dumps(
        {
            "SchemaVersion": 2,
            "ArtifactName": "registry.example/pay:1",
            "Metadata": {"OS": {"Family": "alpine", "Name": "3.18.4"}, "DiffIDs": layers},
            "Results": [
                {
                    "Target": "registry.example/pay:1 (alpine 3.18.4)",
                    "Packages": [{"Name": "libcrypto3", "Version": "3.1.3-r0"}],
                    "Vulnerabilities": [
                        {
                            "VulnerabilityID": "CVE-2023-5363",
                            "PkgName": "libcrypto3",
                            "InstalledVersion": "3.1.3-r0",
                            "FixedVersion": "3.1.4-r0",
                            "Severity": "HIGH",
                        }
                    ],
                }
            ],
        }
    ).encode()


@pytest.fixture
def pay_image() -> Image:
    host = HostFactory(name="pay-1", labels={"team": "pay"})
    inspect = {"RootFS": {"Layers": LAYERS}}
    return Image.objects.create(
        host=host, name="registry.example/pay:1", image_id="sha256:" + "ab" * 32,
        inspect=inspect, digest="x", layers_key=layers_key(inspect),
    )  # fmt: skip


def upload(client: Client, raw: str, body: bytes, **extra: Any) -> Any:
    return client.post(
        "/api/v1/uploads/", body, content_type="application/json", **bearer(raw), **extra
    )


def test_a_trivy_report_is_merged_audited_and_its_hosts_rescanned(
    api: Client, token_for: Callable[..., str], pay_image: Image
) -> None:
    raw = token_for(UserFactory(), "security", ("pay",))
    response = upload(api, raw, trivy())
    assert response.status_code == 201, response.content
    assert response.json() == {
        "kind": "trivy",
        "image": "registry.example/pay:1",
        "inventory_key": pay_image.layers_key,
        "hosts": 1,
        "packages": 1,
        "added": 1,
        "duplicates": 0,
    }
    assert ImageVulnerability.objects.get().vuln == "CVE-2023-5363"
    event = AuditEvent.objects.get(action="vulns.ingested")
    assert event.details["added"] == 1 and event.details["kind"] == "trivy"
    assert ScanRun.objects.filter(host=pay_image.host, status="queued").exists()
    again = upload(api, raw, trivy()).json()
    assert (again["added"], again["duplicates"]) == (0, 1)


def test_a_cyclonedx_sbom_is_matched_by_its_layers(
    api: Client, token_for: Callable[..., str], pay_image: Image
) -> None:
    sbom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "metadata": {
            "component": {
                "type": "container",
                "name": "registry.example/pay",
                "properties": [{"name": "oci:layer", "value": layer} for layer in LAYERS],
            }
        },
        "components": [
            {"bom-ref": "pkg:apk/alpine/busybox@1.36.1-r2", "type": "library",
             "name": "busybox", "version": "1.36.1-r2", "purl": "pkg:apk/alpine/busybox@1.36.1-r2"},
        ],
        "vulnerabilities": [
            {"id": "CVE-2023-42363", "ratings": [{"severity": "medium"}],
             "affects": [{"ref": "pkg:apk/alpine/busybox@1.36.1-r2"}]},
        ],
    }  # fmt: skip
    response = upload(api, token_for(UserFactory(), "admin"), json.dumps(sbom).encode())
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "cyclonedx"
    assert response.json()["inventory_key"] == pay_image.layers_key
    assert ImageVulnerability.objects.get().package_name == "busybox"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", "not JSON"),
        (b"[]", "expected an object"),
        (b'{"SchemaVersion": 1}', "only 2 is read"),
        (b'{"bomFormat": "SPDX"}', "nor a CycloneDX"),
        (b"", "Send the Trivy JSON report"),
    ],
)
def test_a_bad_document_is_refused_with_the_reason(
    api: Client, token_for: Callable[..., str], pay_image: Image, body: bytes, words: str
) -> None:
    response = upload(api, token_for(UserFactory(), "security"), body)
    assert response.status_code == 400
    assert words in response.json()["error"]["message"]
    assert not ImageInventory.objects.exists()
    assert not AuditEvent.objects.filter(action="vulns.ingested").exists()


def test_a_document_matching_no_image_says_so(
    api: Client, token_for: Callable[..., str], pay_image: Image
) -> None:
    # Without layer digests, the document is matched by image id or digest: none here.
    response = upload(api, token_for(UserFactory(), "security"), trivy(layers=[]))
    assert response.status_code == 400
    assert "no image on the fleet matches" in response.json()["error"]["message"]


def test_another_teams_image_is_left_untouched(
    api: Client, token_for: Callable[..., str], pay_image: Image
) -> None:
    response = upload(api, token_for(UserFactory(), "security", ("web",)), trivy())
    assert response.status_code == 400
    assert "No image on your hosts" in response.json()["error"]["message"]
    assert not ImageInventory.objects.exists()  # the merge was undone
    assert not ScanRun.objects.exists()


def test_oversized_documents_are_refused_before_and_while_reading(
    api: Client,
    token_for: Callable[..., str],
    pay_image: Image,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = token_for(UserFactory(), "security")
    declared = upload(api, raw, trivy(), CONTENT_LENGTH=str(views.MAX_DOCUMENT_BYTES + 1))
    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "too_large"
    monkeypatch.setattr(views, "MAX_DOCUMENT_BYTES", 100)
    read = upload(api, raw, trivy())
    assert read.status_code == 413 and "larger than" in read.json()["error"]["message"]
    assert not ImageInventory.objects.exists()


def test_only_roles_that_triage_may_upload(
    api: Client, token_for: Callable[..., str], pay_image: Image
) -> None:
    operator = token_for(UserFactory(), "operator", ("pay",))
    assert upload(api, operator, trivy()).status_code == 403
    assert not ImageInventory.objects.exists()

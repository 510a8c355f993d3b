"""Trivy JSON and CycloneDX documents from CI, matched to the fleet's images and merged."""

from __future__ import annotations

import hashlib
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from findings.models import Image
from rules.facts import layers_key
from tests.factories import HostFactory
from vulns.ingest import IngestError, ingest
from vulns.models import ImageInventory, ImageVulnerability

pytestmark = pytest.mark.django_db

LAYERS = ["sha256:" + hashlib.sha256(str(n).encode()).hexdigest() for n in range(3)]
IMAGE_ID = "sha256:" + "ab" * 32
DIGEST = "registry.example/shop@sha256:" + "cd" * 32


@pytest.fixture
def fleet_image() -> Image:
    host = HostFactory(name="web-1")
    inspect = {"RootFS": {"Layers": LAYERS}, "RepoDigests": [DIGEST]}
    return Image.objects.create(
        host=host,
        name="registry.example/shop:1",
        image_id=IMAGE_ID,
        inspect=inspect,
        digest="x",
        layers_key=layers_key(inspect),
    )


def trivy(diff_ids=LAYERS, vulns=None) -> bytes:
    return json.dumps(
        {
            "SchemaVersion": 2,
            "ArtifactName": "registry.example/shop:1",
            "ArtifactType": "container_image",
            "Metadata": {
                "OS": {"Family": "alpine", "Name": "3.18.4"},
                "ImageID": IMAGE_ID,
                "DiffIDs": diff_ids,
                "RepoDigests": [DIGEST],
            },
            "Results": [
                {
                    "Target": "registry.example/shop:1 (alpine 3.18.4)",
                    "Class": "os-pkgs",
                    "Type": "alpine",
                    "Packages": [
                        {"Name": "libcrypto3", "Version": "3.1.3-r0", "SrcName": "openssl"}
                    ],
                    "Vulnerabilities": vulns
                    if vulns is not None
                    else [
                        {
                            "VulnerabilityID": "CVE-2023-5363",
                            "PkgName": "libcrypto3",
                            "InstalledVersion": "3.1.3-r0",
                            "FixedVersion": "3.1.4-r0",
                            "Severity": "HIGH",
                        },
                        {
                            "VulnerabilityID": "CVE-2023-5363",
                            "PkgName": "libcrypto3",
                            "InstalledVersion": "3.1.3-r0",
                            "FixedVersion": "3.1.4-r0",
                            "Severity": "HIGH",
                        },
                    ],
                }
            ],
        }
    ).encode()


def test_trivy_report_lands_on_the_image_by_its_layers_once(fleet_image):
    report = ingest(trivy())
    assert report.kind == "trivy" and report.hosts == 1
    assert report.inventory_key == fleet_image.layers_key
    assert (report.added, report.duplicates, report.packages) == (1, 0, 1)
    inventory = ImageInventory.objects.get()
    assert inventory.source == ImageInventory.Source.TRIVY and inventory.assessed
    row = ImageVulnerability.objects.get()
    assert (row.vuln, row.fixed_version, row.severity) == ("CVE-2023-5363", "3.1.4-r0", 3)
    again = ingest(trivy())
    assert (again.added, again.duplicates) == (0, 1)
    assert ImageVulnerability.objects.count() == 1


def test_trivy_report_without_layers_is_matched_by_image_id(fleet_image):
    assert ingest(trivy(diff_ids=[])).inventory_key == fleet_image.layers_key


def test_cyclonedx_matched_by_repo_digest(fleet_image):
    doc = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "metadata": {
            "component": {"type": "container", "name": "shop", "version": "sha256:" + "cd" * 32}
        },
        "components": [
            {"type": "operating-system", "name": "alpine", "version": "3.18.4"},
            {
                "type": "library",
                "bom-ref": "pkg:pypi/requests@2.28.0",
                "name": "requests",
                "version": "2.28.0",
                "purl": "pkg:pypi/requests@2.28.0",
            },
        ],
        "vulnerabilities": [
            {
                "id": "CVE-2023-32681",
                "ratings": [{"severity": "medium"}],
                "affects": [{"ref": "pkg:pypi/requests@2.28.0"}],
            }
        ],
    }
    # The digest of the manifest, as the repository digest names it.
    fleet_image.inspect["RepoDigests"] = ["registry.example/shop@sha256:" + "cd" * 32]
    fleet_image.save()
    report = ingest(json.dumps(doc).encode())
    assert report.kind == "cyclonedx" and report.added == 1
    row = ImageVulnerability.objects.get()
    assert (row.package_name, row.installed_version, row.source) == (
        "requests",
        "2.28.0",
        "cyclonedx",
    )


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"\xff\xfe not json", "not JSON"),
        (b"[]", "expected an object"),
        (b'{"SchemaVersion": 1}', "only 2 is read"),
        (b'{"hello": "world"}', "not a Trivy JSON report"),
    ],
)
def test_bad_documents_are_refused_with_a_reason(raw, message):
    with pytest.raises(IngestError, match=message):
        ingest(raw)


def test_a_document_for_no_image_on_the_fleet(fleet_image):
    # With layer digests it is kept for when the image is deployed (CI uploads at build
    # time); without them there is nothing to match it to later.
    doc = json.loads(trivy(diff_ids=["sha256:" + "ee" * 32]))
    doc["Metadata"]["ImageID"] = "sha256:" + "ff" * 32
    doc["Metadata"]["RepoDigests"] = []
    assert ingest(json.dumps(doc).encode()).hosts == 0
    doc["Metadata"]["DiffIDs"] = []
    with pytest.raises(IngestError, match="no image on the fleet"):
        ingest(json.dumps(doc).encode())
    assert ImageInventory.objects.count() == 1


def test_the_command_reports_and_fails_on_bad_files(fleet_image, tmp_path: Path):
    good, bad = tmp_path / "trivy.json", tmp_path / "bad.json"
    good.write_bytes(trivy())
    bad.write_text("{")
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="1 file"):
        call_command("vulns", "ingest", str(good), str(bad), stdout=out, stderr=err)
    assert "1 vulnerabilit(y/ies) added" in out.getvalue()
    assert "bad.json: not JSON" in err.getvalue()

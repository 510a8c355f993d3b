"""Results made elsewhere: a Trivy JSON report (schema version 2) or a CycloneDX SBOM/VEX
uploaded from CI, matched to the images on the fleet and merged with what Posture read.

Matching is by content where the document says it (Trivy's Metadata.DiffIDs are the image's
RootFS.Layers, so the same inventory key), else by image id or repository digest against
the images the fleet has listed. A vulnerability already known for the same package and
version is not added twice; Posture's own rows keep precedence and the uploaded ones say
their source.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from findings.models import Image
from rules.facts import layers_key
from vulndb.records import VulnSeverity
from vulns.models import ImageInventory, ImageVulnerability, Package

MAX_DOCUMENT_BYTES = 64 * 2**20
MAX_ITEMS = 200_000  # packages or vulnerabilities in one document

_SEVERITIES = {
    "critical": VulnSeverity.CRITICAL,
    "high": VulnSeverity.HIGH,
    "medium": VulnSeverity.MEDIUM,
    "moderate": VulnSeverity.MEDIUM,
    "low": VulnSeverity.LOW,
}


class IngestError(ValueError):
    """The document cannot be used; the message says why, for a person."""


@dataclass
class IngestReport:
    kind: str  # trivy | cyclonedx
    image: str  # what the document says it describes
    inventory_key: str = ""
    hosts: int = 0  # hosts that run it now
    packages: int = 0
    added: int = 0
    duplicates: int = 0
    skipped: list[str] = field(default_factory=list)


@dataclass
class _Vuln:
    id: str
    package: str
    installed: str
    fixed: str
    severity: int
    ecosystem: str = ""


@dataclass
class _Document:
    kind: str
    name: str
    key: str  # layers key when the document carries layer digests
    ids: set[str]  # image ids and repo digests it names
    os_id: str = ""
    os_version: str = ""
    packages: list[Package] = field(default_factory=list)
    vulns: list[_Vuln] = field(default_factory=list)


def _text(value: Any, limit: int = 255) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        return []
    if len(value) > MAX_ITEMS:
        raise IngestError(f"more than {MAX_ITEMS} entries in one list")
    return value


def parse(raw: bytes) -> _Document:
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise IngestError(f"the document is larger than {MAX_DOCUMENT_BYTES // 2**20} MB")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise IngestError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise IngestError("not a Trivy report or a CycloneDX document (expected an object)")
    if "SchemaVersion" in doc:
        return _trivy(doc)
    if doc.get("bomFormat") == "CycloneDX":
        return _cyclonedx(doc)
    raise IngestError("not a Trivy JSON report (SchemaVersion 2) nor a CycloneDX document")


def _trivy(doc: dict[str, Any]) -> _Document:
    if doc.get("SchemaVersion") != 2:
        raise IngestError(f"Trivy schema version {doc.get('SchemaVersion')!r}: only 2 is read")
    meta = _dict(doc.get("Metadata"))
    diff_ids = [d for d in _list(meta.get("DiffIDs")) if isinstance(d, str)]
    ids = {_text(meta.get("ImageID"), 80)} | {
        d for d in _list(meta.get("RepoDigests")) if isinstance(d, str)
    }
    os_info = _dict(meta.get("OS"))
    out = _Document(
        kind="trivy",
        name=_text(doc.get("ArtifactName")) or "image",
        key=layers_key({"RootFS": {"Layers": diff_ids}}),
        ids={i for i in ids if i},
        os_id=_text(os_info.get("Family"), 64),
        os_version=_text(os_info.get("Name"), 64),
    )
    for result in _list(doc.get("Results")):
        if not isinstance(result, dict):
            continue
        ecosystem = _text(result.get("Type"), 64)
        for pkg in _list(result.get("Packages")):
            if isinstance(pkg, dict) and _text(pkg.get("Name")):
                identifier = _dict(pkg.get("Identifier"))
                out.packages.append(
                    Package(
                        ecosystem=ecosystem,
                        name=_text(pkg.get("Name")),
                        version=_text(pkg.get("Version"), 128),
                        source_name=_text(pkg.get("SrcName")),
                        source_version=_text(pkg.get("SrcVersion"), 128),
                        purl=_text(identifier.get("PURL"), 512),
                    )
                )
        for vuln in _list(result.get("Vulnerabilities")):
            if not isinstance(vuln, dict) or not _text(vuln.get("VulnerabilityID"), 128):
                continue
            out.vulns.append(
                _Vuln(
                    id=_text(vuln.get("VulnerabilityID"), 128),
                    package=_text(vuln.get("PkgName")),
                    installed=_text(vuln.get("InstalledVersion"), 128),
                    fixed=_text(vuln.get("FixedVersion"), 128),
                    severity=_SEVERITIES.get(_text(vuln.get("Severity")).lower(), 0),
                    ecosystem=ecosystem,
                )
            )
    return out


def _cyclonedx(doc: dict[str, Any]) -> _Document:
    meta = _dict(doc.get("metadata"))
    subject = _dict(meta.get("component"))
    ids = set()
    for value in (subject.get("version"), subject.get("bom-ref"), subject.get("purl")):
        if isinstance(value, str) and "sha256:" in value:
            ids.add("sha256:" + value.split("sha256:", 1)[1][:64])
    layers = [
        _text(p.get("value"), 80)
        for p in _list(subject.get("properties"))
        if isinstance(p, dict) and p.get("name") in ("aquasecurity:trivy:DiffID", "oci:layer")
    ]
    out = _Document(
        kind="cyclonedx",
        name=_text(subject.get("name")) or "image",
        key=layers_key({"RootFS": {"Layers": layers}}),
        ids=ids,
    )
    refs: dict[str, tuple[str, str]] = {}
    for comp in _list(doc.get("components")):
        if not isinstance(comp, dict):
            continue
        if comp.get("type") == "operating-system":
            out.os_id, out.os_version = _text(comp.get("name"), 64), _text(comp.get("version"), 64)
            continue
        name, version = _text(comp.get("name")), _text(comp.get("version"), 128)
        if not name:
            continue
        purl = _text(comp.get("purl"), 512)
        refs[_text(comp.get("bom-ref"), 512) or purl] = (name, version)
        out.packages.append(
            Package(ecosystem=_purl_type(purl), name=name, version=version, purl=purl)
        )
    for vuln in _list(doc.get("vulnerabilities")):
        if not isinstance(vuln, dict) or not _text(vuln.get("id"), 128):
            continue
        ratings = [r for r in _list(vuln.get("ratings")) if isinstance(r, dict)]
        severity = max(
            (_SEVERITIES.get(_text(r.get("severity")).lower(), 0) for r in ratings), default=0
        )
        # CycloneDX says how to fix in prose ("recommendation"), not as a version: the fix
        # stays unknown rather than guessed.
        fixed = ""
        for affects in _list(vuln.get("affects")):
            ref = _text(affects.get("ref"), 512) if isinstance(affects, dict) else ""
            if ref in refs:
                name, version = refs[ref]
                out.vulns.append(_Vuln(_text(vuln.get("id"), 128), name, version, fixed, severity))
    return out


def _purl_type(purl: str) -> str:
    kind = purl[4:].split("/", 1)[0] if purl.startswith("pkg:") else ""
    return {"pypi": "PyPI", "npm": "npm", "maven": "Maven", "golang": "Go"}.get(kind, kind)


def _fleet_key(doc: _Document) -> tuple[str, int]:
    """The inventory key the document describes on this fleet, and how many hosts run it."""
    images = Image.objects.filter(gone_at__isnull=True).exclude(layers_key="")
    if doc.key:
        return doc.key, images.filter(layers_key=doc.key).values("host").distinct().count()
    digests = list(images.values_list("image_id", "layers_key", "inspect"))
    for ident in sorted(doc.ids):
        # A full reference matches a repository digest exactly; a bare digest is the image
        # id, or the manifest digest that repository digests end with.
        for image_id, key, inspect in digests:
            repo_digests = (inspect or {}).get("RepoDigests") or []
            if (
                ident == image_id
                or ident in repo_digests
                or ("@" not in ident and any(d.endswith("@" + ident) for d in repo_digests))
            ):
                return key, images.filter(layers_key=key).values("host").distinct().count()
    raise IngestError(
        "no image on the fleet matches this document (no layer digests, and its image id and "
        "repository digests are not listed by any host)"
    )


def ingest(raw: bytes) -> IngestReport:
    doc = parse(raw)
    key, hosts = _fleet_key(doc)
    source = ImageInventory.Source.TRIVY if doc.kind == "trivy" else ImageInventory.Source.CYCLONEDX
    report = IngestReport(kind=doc.kind, image=doc.name, inventory_key=key, hosts=hosts)
    now = timezone.now()
    with transaction.atomic():
        inventory, created = ImageInventory.objects.select_for_update().get_or_create(
            key=key,
            defaults={
                "status": ImageInventory.Status.ASSESSED,
                "source": source,
                "mode": "",
                "image_name": doc.name[:255],
                "os_id": doc.os_id,
                "os_version": doc.os_version,
                "read_at": now,
            },
        )
        if not created and inventory.status != ImageInventory.Status.ASSESSED:
            # Posture could not read it (no container, RPM…): the upload is the picture.
            inventory.status = ImageInventory.Status.ASSESSED
            inventory.source, inventory.reason, inventory.read_at = source, "", now
            inventory.os_id = inventory.os_id or doc.os_id
            inventory.os_version = inventory.os_version or doc.os_version
            inventory.save()
        if not inventory.packages.exists() and doc.packages:
            for package in doc.packages:
                package.inventory = inventory
            Package.objects.bulk_create(doc.packages, batch_size=1000)
            ImageInventory.objects.filter(pk=inventory.pk).update(package_count=len(doc.packages))
            report.packages = len(doc.packages)
        existing = set(
            inventory.vulnerabilities.values_list("vuln", "package_name", "installed_version")
        )
        new = []
        for v in _unique(doc.vulns):
            if (v.id, v.package, v.installed) in existing:
                report.duplicates += 1
                continue
            existing.add((v.id, v.package, v.installed))
            new.append(
                ImageVulnerability(
                    inventory=inventory,
                    advisory_id=v.id,
                    vuln=v.id,
                    ecosystem=v.ecosystem,
                    package_name=v.package,
                    installed_version=v.installed,
                    fixed_version=v.fixed,
                    severity=v.severity,
                    source=source,
                    first_seen_at=now,
                )
            )
        ImageVulnerability.objects.bulk_create(new, batch_size=1000)
        report.added = len(new)
        # Its vulnerabilities changed: the summaries kept per process follow matched_at.
        ImageInventory.objects.filter(pk=inventory.pk).update(matched_at=now)
    return report


def _unique(vulns: Iterable[_Vuln]) -> Iterable[_Vuln]:
    seen = set()
    for v in vulns:
        key = (v.id, v.package, v.installed)
        if key not in seen:
            seen.add(key)
            yield v

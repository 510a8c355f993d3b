"""What leaves Posture about images: an inventory as a CycloneDX SBOM, the fleet's
vulnerabilities (with the fleet page's filters) as CSV, JSON and SARIF rows (triage
decisions as OpenVEX and CycloneDX VEX are in vulns.vex).

The CycloneDX documents are built with cyclonedx-python-lib (its model and serializer), so
they follow the schema version it writes; tests validate them with its own validator.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from packageurl import PackageURL

from access.scope import Scope
from findings.export import csv_cell
from findings.sarif import tool_version
from vulndb.records import VulnSeverity
from vulns import queries
from vulns.models import ImageInventory
from vulns.triage import Decisions

CYCLONEDX_VERSION = SchemaVersion.V1_6
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "postureVulnerability/v1"
# GitHub code scanning takes at most 25,000 results per run; the JSON stops there too.
EXPORT_LIMIT = 25_000
CSV_COLUMNS = (
    "vulnerability",
    "advisory",
    "severity",
    "kev",
    "epss",
    "ecosystem",
    "package",
    "installed_version",
    "fixed_version",
    "image",
    "inventory",
    "hosts",
    "running_containers",
)
SECURITY_SEVERITY = {
    VulnSeverity.CRITICAL: "9.5",
    VulnSeverity.HIGH: "8.0",
    VulnSeverity.MEDIUM: "5.5",
    VulnSeverity.LOW: "3.0",
    VulnSeverity.UNKNOWN: "0.0",
}
LEVELS = {
    VulnSeverity.CRITICAL: "error",
    VulnSeverity.HIGH: "error",
    VulnSeverity.MEDIUM: "warning",
    VulnSeverity.LOW: "note",
    VulnSeverity.UNKNOWN: "note",
}


def _severity(value: int) -> VulnSeverity:
    try:
        return VulnSeverity(value)
    except ValueError:
        return VulnSeverity.UNKNOWN


# -- the fleet's vulnerabilities -----------------------------------------------------------


@dataclass(frozen=True)
class VulnRow:
    """One vulnerable package of one inventory, with where that inventory runs now."""

    vuln: str
    advisory: str
    severity: VulnSeverity
    kev: bool
    epss: float | None
    ecosystem: str
    package: str
    installed: str
    fixed: str
    image: str
    inventory: str
    hosts: tuple[str, ...]
    running: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.vuln,
            "advisory": self.advisory,
            "severity": self.severity.label,
            "kev": self.kev,
            "epss": self.epss,
            "ecosystem": self.ecosystem,
            "package": self.package,
            "installed_version": self.installed,
            "fixed_version": self.fixed or None,
            "image": self.image,
            "inventory": self.inventory,
            "hosts": list(self.hosts),
            "running_containers": self.running,
        }


def vulnerability_rows(filters: queries.VulnFilters, *, scope: Scope) -> tuple[list[VulnRow], bool]:
    """The rows behind the fleet page with the same filters and scope (triaged places left
    out unless ?triaged=1), most urgent first, at most EXPORT_LIMIT; and whether some were
    cut."""
    fleet = queries.current_fleet(filters, scope=scope)
    keys = [key for key, share in fleet.by_key.items() if share.images]
    rows = list(queries.matched_rows(filters, keys)) if keys else []
    decisions = Decisions.in_force({r["vuln"] for r in rows}) if rows else Decisions(())
    out: list[VulnRow] = []
    for row in rows:
        share = fleet.by_key[row["inventory__key"]]
        places = share.images
        if not filters.triaged and decisions.by_vuln.get(row["vuln"]):
            places = [
                item
                for item in share.images
                if not decisions.covering(
                    row["vuln"], row["package_name"], set(item.repos), item.labels
                )
            ]
        if not places:
            continue
        names = sorted({item.name for item in places if item.name})
        out.append(
            VulnRow(
                vuln=row["vuln"],
                advisory=row["advisory_id"],
                severity=_severity(row["severity"]),
                kev=row["kev"],
                epss=row["epss"],
                ecosystem=row["ecosystem"],
                package=row["package_name"],
                installed=row["installed_version"],
                fixed=row["fixed_version"],
                image=names[0] if names else places[0].image_id,
                inventory=row["inventory__key"],
                hosts=tuple(sorted({item.host_name for item in places})),
                running=sum(item.running for item in places),
            )
        )
    out.sort(
        key=lambda r: (
            not r.kev,
            not (r.fixed and r.severity >= VulnSeverity.HIGH),
            -(r.epss or 0.0),
            -r.severity,
            r.vuln,
            r.image,
            r.package,
        )
    )
    return out[:EXPORT_LIMIT], len(out) > EXPORT_LIMIT


def csv_rows(rows: Iterable[VulnRow]) -> Iterator[list[str]]:
    """The header, then one row per vulnerable package, every cell guarded against
    spreadsheet formulas (findings.export.csv_cell)."""
    yield list(CSV_COLUMNS)
    for row in rows:
        cells = [
            row.vuln,
            row.advisory,
            row.severity.label,
            "yes" if row.kev else "no",
            "" if row.epss is None else f"{row.epss:.5f}",
            row.ecosystem,
            row.package,
            row.installed,
            row.fixed,
            row.image,
            row.inventory,
            " ".join(row.hosts),
            str(row.running),
        ]
        yield [csv_cell(c) for c in cells]


def json_data(rows: list[VulnRow], truncated: bool) -> dict[str, Any]:
    return {
        "generated_at": timezone.now().isoformat(),
        "truncated": truncated,
        "vulnerabilities": [row.as_dict() for row in rows],
    }


def _fingerprint(*parts: str) -> str:
    # Length-prefixed, so ("a", "bc") and ("ab", "c") cannot collide.
    return hashlib.sha256("".join(f"{len(p)}:{p}" for p in parts).encode()).hexdigest()


def sarif_log(rows: Iterable[VulnRow], *, truncated: bool = False) -> dict[str, Any]:
    """One run; a rule per vulnerability, a result per vulnerable package of an image, its
    location logical (the image, then each host), fingerprinted on what identifies it."""
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results = []
    for row in rows:
        level = LEVELS[row.severity]
        if row.vuln not in index:
            index[row.vuln] = len(rules)
            rules.append(
                {
                    "id": row.vuln,
                    "shortDescription": {"text": row.vuln},
                    "helpUri": settings.POSTURE_BASE_URL
                    + reverse("vulnerability", args=[row.vuln]),
                    "defaultConfiguration": {"level": level},
                    "properties": {
                        "tags": ["security", "vulnerability", "container"],
                        "security-severity": SECURITY_SEVERITY[row.severity],
                        "severity": row.severity.label,
                    },
                }
            )
        fix = f"fixed in {row.fixed}" if row.fixed else "no fix yet"
        logical = [
            {"name": row.image, "fullyQualifiedName": row.image, "kind": "module"},
            *(
                {"name": host, "fullyQualifiedName": f"{host}/{row.image}", "kind": "resource"}
                for host in row.hosts
            ),
        ]
        results.append(
            {
                "ruleId": row.vuln,
                "ruleIndex": index[row.vuln],
                "level": level,
                "message": {
                    "text": f"{row.vuln} in {row.package} {row.installed} ({fix}) "
                    f"of image {row.image}"
                },
                "locations": [{"logicalLocations": logical}],
                "partialFingerprints": {
                    FINGERPRINT_KEY: _fingerprint(
                        row.vuln, row.inventory, row.package, row.installed
                    )
                },
                "properties": {k: v for k, v in row.as_dict().items() if k != "id"},
            }
        )
    properties: dict[str, Any] = {"truncated": True} if truncated else {}
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "Posture",
                        "version": tool_version(),
                        "semanticVersion": tool_version(),
                        "informationUri": settings.POSTURE_BASE_URL + reverse("vulnerabilities"),
                        "rules": rules,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
                "properties": properties,
            }
        ],
    }


# -- an inventory as CycloneDX -------------------------------------------------------------


def purl_or_none(text: str) -> PackageURL | None:
    # Package URLs come from package databases inside images: a malformed one is left out,
    # never a failed export.
    try:
        return PackageURL.from_string(text) if text else None
    except ValueError:
        return None


def posture_properties(**values: str) -> list[Property]:
    """posture:<name> properties, the empty ones left out."""
    return [Property(name=f"posture:{k}", value=v) for k, v in values.items() if v]


def serialize_bom(bom: Bom) -> str:
    return make_outputter(bom, OutputFormat.JSON, CYCLONEDX_VERSION).output_as_string(indent=2)


def add_tool(bom: Bom) -> None:
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="Posture", version=tool_version())
    )


def cyclonedx_sbom(inventory: ImageInventory) -> str:
    """The inventory as a CycloneDX SBOM: the image as the metadata component, its OS as an
    operating-system component, each package as a library with its purl."""
    bom = Bom()
    add_tool(bom)
    if inventory.read_at:
        bom.metadata.timestamp = inventory.read_at
    image = Component(
        type=ComponentType.CONTAINER,
        name=inventory.image_name or inventory.image_id or inventory.key,
        bom_ref=f"image:{inventory.key}",
        properties=posture_properties(
            layers_key=inventory.key,
            status=inventory.status,
            mode=inventory.mode,
            source=inventory.source,
            image_id=inventory.image_id,
            reason=inventory.reason,
        ),
    )
    bom.metadata.component = image
    parts: list[Component] = []
    if inventory.os_id:
        os_component = Component(
            type=ComponentType.OPERATING_SYSTEM,
            name=inventory.os_id,
            version=inventory.os_version or None,
            description=inventory.os_name or None,
            bom_ref=f"os:{inventory.os_id}:{inventory.os_version}",
        )
        parts.append(os_component)
    for package in inventory.packages.order_by("ecosystem", "name", "version", "pk").iterator():
        ref = f"package:{package.pk}"
        properties = posture_properties(
            ecosystem=package.ecosystem,
            source_name=package.source_name,
            source_version=package.source_version,
            path=package.path,
        )
        parts.append(
            Component(
                type=ComponentType.LIBRARY,
                name=package.name,
                version=package.version or None,
                purl=purl_or_none(package.purl),
                bom_ref=ref,
                properties=properties,
            )
        )
    for part in parts:
        bom.components.add(part)
    bom.register_dependency(image, parts)
    return serialize_bom(bom)

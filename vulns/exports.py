"""What leaves Posture about images: an inventory as a CycloneDX SBOM, the fleet's
vulnerabilities (with the fleet page's filters) as CSV, JSON and SARIF rows, and triage
decisions as OpenVEX and CycloneDX VEX.

The CycloneDX documents are built with cyclonedx-python-lib (its model and serializer), so
they follow the schema version it writes; tests validate them with its own validator.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cyclonedx.model import Property, XsUri
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.impact_analysis import (
    ImpactAnalysisJustification,
    ImpactAnalysisResponse,
    ImpactAnalysisState,
)
from cyclonedx.model.vulnerability import (
    BomTarget,
    Vulnerability,
    VulnerabilityAnalysis,
    VulnerabilitySource,
)
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from packageurl import PackageURL

from findings.export import csv_cell
from findings.sarif import tool_version
from vulndb.records import VulnSeverity
from vulns import queries
from vulns.models import ImageInventory, VulnDecision
from vulns.triage import Decisions

CYCLONEDX_VERSION = SchemaVersion.V1_6
OPENVEX_CONTEXT = "https://openvex.dev/ns/v0.2.0"
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


def vulnerability_rows(filters: queries.VulnFilters) -> tuple[list[VulnRow], bool]:
    """The rows behind the fleet page with the same filters (triaged places left out unless
    ?triaged=1), most urgent first, at most EXPORT_LIMIT; and whether some were cut."""
    fleet = queries.current_fleet(filters)
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


def _purl(text: str) -> PackageURL | None:
    # Package URLs come from package databases inside images: a malformed one is left out,
    # never a failed export.
    try:
        return PackageURL.from_string(text) if text else None
    except ValueError:
        return None


def _properties(**values: str) -> list[Property]:
    """posture:<name> properties, the empty ones left out."""
    return [Property(name=f"posture:{k}", value=v) for k, v in values.items() if v]


def _serialize(bom: Bom) -> str:
    return make_outputter(bom, OutputFormat.JSON, CYCLONEDX_VERSION).output_as_string(indent=2)


def _tool(bom: Bom) -> None:
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="Posture", version=tool_version())
    )


def cyclonedx_sbom(inventory: ImageInventory) -> str:
    """The inventory as a CycloneDX SBOM: the image as the metadata component, its OS as an
    operating-system component, each package as a library with its purl."""
    bom = Bom()
    _tool(bom)
    if inventory.read_at:
        bom.metadata.timestamp = inventory.read_at
    image = Component(
        type=ComponentType.CONTAINER,
        name=inventory.image_name or inventory.image_id or inventory.key,
        bom_ref=f"image:{inventory.key}",
        properties=_properties(
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
        properties = _properties(
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
                purl=_purl(package.purl),
                bom_ref=ref,
                properties=properties,
            )
        )
    for part in parts:
        bom.components.add(part)
    bom.register_dependency(image, parts)
    return _serialize(bom)


# -- decisions as VEX ----------------------------------------------------------------------

# OpenVEX's justifications (the model's) in CycloneDX's words.
CDX_JUSTIFICATIONS = {
    VulnDecision.Justification.COMPONENT_NOT_PRESENT: ImpactAnalysisJustification.CODE_NOT_PRESENT,
    VulnDecision.Justification.CODE_NOT_PRESENT: ImpactAnalysisJustification.CODE_NOT_PRESENT,
    VulnDecision.Justification.NOT_IN_EXECUTE_PATH: ImpactAnalysisJustification.CODE_NOT_REACHABLE,
    VulnDecision.Justification.CANNOT_BE_CONTROLLED: (
        ImpactAnalysisJustification.PROTECTED_BY_MITIGATING_CONTROL
    ),
    VulnDecision.Justification.MITIGATION_EXISTS: (
        ImpactAnalysisJustification.PROTECTED_BY_MITIGATING_CONTROL
    ),
}


def scope_id(decision: VulnDecision) -> str:
    """The product a decision speaks of, as an identifier a VEX consumer can match: a purl
    for an image repository or a package, a URN of Posture's own for a label or the fleet."""
    value = decision.scope_value
    if decision.scope == VulnDecision.Scope.REPOSITORY:
        name = value.rsplit("/", 1)[-1]
        qualifiers = {"repository_url": value} if "/" in value else {}
        return PackageURL(type="oci", name=name, qualifiers=qualifiers).to_string()
    if decision.scope == VulnDecision.Scope.PACKAGE:
        return PackageURL(type="generic", name=value).to_string()
    if decision.scope == VulnDecision.Scope.LABEL:
        return f"urn:posture:hosts:label:{value}"
    return "urn:posture:fleet"


def decisions_in_force(now: datetime | None = None) -> list[VulnDecision]:
    decisions = Decisions.in_force(now=now)
    return sorted(
        (d for rows in decisions.by_vuln.values() for d in rows),
        key=lambda d: (d.vuln, d.created_at, d.pk),
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def openvex(decisions: list[VulnDecision], author: str) -> dict[str, Any]:
    """Decisions as an OpenVEX 0.2.0 document. "accepted risk" is VEX's `affected` with the
    reason as the action statement; "false positive" is `not_affected` explained by an
    impact statement when no justification was given."""
    statements = []
    for d in decisions:
        statement: dict[str, Any] = {
            "vulnerability": {"name": d.vuln},
            "products": [{"@id": scope_id(d)}],
            "timestamp": _iso(d.created_at),
        }
        if d.state == VulnDecision.State.ACCEPTED:
            statement["status"] = "affected"
            statement["action_statement"] = d.reason
        else:
            statement["status"] = "not_affected"
            if d.justification:
                statement["justification"] = d.justification
            statement["impact_statement"] = d.reason
        statements.append(statement)
    content = json.dumps(statements, sort_keys=True)
    newest = max((d.created_at for d in decisions), default=timezone.now())
    return {
        "@context": OPENVEX_CONTEXT,
        # The same decisions give the same document id: a consumer sees no new document.
        "@id": f"{settings.POSTURE_BASE_URL}/vex/{hashlib.sha256(content.encode()).hexdigest()}",
        "author": author,
        "role": "Document Creator",
        "timestamp": _iso(newest),
        "version": 1,
        "tooling": f"Posture {tool_version()}",
        "statements": statements,
    }


def cyclonedx_vex(decisions: list[VulnDecision]) -> str:
    """Decisions as a CycloneDX VEX: one vulnerability per decision, its analysis (state,
    justification, response, detail) and the scope as the component it affects."""
    bom = Bom()
    _tool(bom)
    components: dict[str, Component] = {}
    for d in decisions:
        ref = scope_id(d)
        if ref not in components:
            kind = (
                ComponentType.CONTAINER
                if d.scope == VulnDecision.Scope.REPOSITORY
                else ComponentType.LIBRARY
                if d.scope == VulnDecision.Scope.PACKAGE
                else ComponentType.PLATFORM
            )
            purl = _purl(ref) if ref.startswith("pkg:") else None
            components[ref] = Component(
                type=kind, name=d.scope_value or "fleet", purl=purl, bom_ref=ref
            )
            bom.components.add(components[ref])
        if d.state == VulnDecision.State.ACCEPTED:
            analysis = VulnerabilityAnalysis(
                state=ImpactAnalysisState.EXPLOITABLE,
                responses=[ImpactAnalysisResponse.WILL_NOT_FIX],
                detail=d.reason,
            )
        elif d.state == VulnDecision.State.FALSE_POSITIVE:
            analysis = VulnerabilityAnalysis(
                state=ImpactAnalysisState.FALSE_POSITIVE, detail=d.reason
            )
        else:
            analysis = VulnerabilityAnalysis(
                state=ImpactAnalysisState.NOT_AFFECTED,
                justification=CDX_JUSTIFICATIONS.get(VulnDecision.Justification(d.justification)),
                detail=d.reason,
            )
        source = None
        if d.vuln.startswith("CVE-"):
            source = VulnerabilitySource(
                name="NVD", url=XsUri(f"https://nvd.nist.gov/vuln/detail/{d.vuln}")
            )
        bom.vulnerabilities.add(
            Vulnerability(
                bom_ref=f"decision:{d.pk}",
                id=d.vuln,
                source=source,
                analysis=analysis,
                affects=[BomTarget(ref=ref)],
                properties=_properties(
                    owner=d.owner,
                    scope=d.scope,
                    expires_at=_iso(d.expires_at) if d.expires_at else "",
                ),
            )
        )
    return _serialize(bom)

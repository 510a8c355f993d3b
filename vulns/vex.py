"""Triage decisions as VEX documents: OpenVEX 0.2.0 (a JSON document built here) and
CycloneDX VEX (built with cyclonedx-python-lib, sharing the SBOM export's serializer and tool
entry from vulns.exports). Each decision becomes one statement whose product is the decision's
scope: an image repository or a package as a purl, a host label or the whole fleet as a URN
of Posture's own.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from cyclonedx.model import XsUri
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
from django.conf import settings
from django.utils import timezone
from packageurl import PackageURL

from access.scope import Scope
from findings.sarif import tool_version
from vulns.exports import add_tool, posture_properties, purl_or_none, serialize_bom
from vulns.models import VulnDecision
from vulns.triage import Decisions, visible

OPENVEX_CONTEXT = "https://openvex.dev/ns/v0.2.0"

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


def decisions_in_force(*, scope: Scope, now: datetime | None = None) -> list[VulnDecision]:
    """The decisions in force that concern `scope` (the rule: vulns.triage.visible)."""
    decisions = Decisions.in_force(now=now)
    return sorted(
        visible((d for rows in decisions.by_vuln.values() for d in rows), scope),
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
    add_tool(bom)
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
            purl = purl_or_none(ref) if ref.startswith("pkg:") else None
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
                properties=posture_properties(
                    owner=d.owner,
                    scope=d.scope,
                    expires_at=_iso(d.expires_at) if d.expires_at else "",
                ),
            )
        )
    return serialize_bom(bom)

"""`manage.py scan --format json`: one host's picture and the scan that made it, as data."""

from __future__ import annotations

from typing import Any

from findings.models import Finding, HostPosture
from hosts.models import Host
from rules import REGISTRY, Severity
from scans.models import ScanRun
from vulns.report import host_images, host_vulnerabilities


def scan_summary(scan: ScanRun) -> dict[str, Any]:
    error = scan.error
    return {
        "id": scan.pk,
        "status": scan.status,
        "trigger": scan.trigger,
        "requested_at": scan.requested_at.isoformat(),
        "finished_at": scan.finished_at.isoformat() if scan.finished_at else None,
        "duration_ms": scan.duration_ms,
        "error": {"class": error.value, "label": error.label, "detail": scan.error_detail}
        if error
        else None,
    }


def host_report(host: Host, scan: ScanRun | None = None) -> dict[str, Any]:
    posture = HostPosture.objects.filter(host=host).first()
    findings = []
    for finding in (
        Finding.objects.open().for_host(host).order_by("-severity", "rule_id", "subject_name")
    ):
        rule = REGISTRY.get(finding.rule_id)
        findings.append(
            {
                "rule_id": finding.rule_id,
                "title": rule.title if rule else finding.rule_id,
                "severity": Severity(finding.severity).label,
                "owasp": list(rule.owasp) if rule else [],
                "cis": list(rule.cis) if rule else [],
                "subject": {
                    "kind": finding.subject_kind,
                    "id": finding.subject_key,
                    "name": finding.subject_name,
                },
                "evidence": finding.evidence,
                "opened_at": finding.opened_at.isoformat(),
            }
        )
    unknown = {
        rule_id: entry.get("reasons", [])
        for rule_id, entry in (posture.rule_summary if posture else {}).items()
        if entry.get("unknown") and not (entry.get("pass") or entry.get("fail"))
    }
    return {
        "host": host.name,
        "endpoint": host.endpoint,
        "labels": host.labels,
        "score": posture.score if posture else None,
        "grade": posture.grade if posture else "",
        "as_of": posture.last_success_at.isoformat()
        if posture and posture.last_success_at
        else None,
        "scan": scan_summary(scan) if scan else None,
        "rules_assessed": posture.rules_assessed if posture else 0,
        "rules_total": len(REGISTRY),
        "not_assessed": unknown,
        "findings": findings,
        "images": host_images(host),
        "vulnerabilities": host_vulnerabilities(host),
    }

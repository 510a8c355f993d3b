"""Open findings as a SARIF 2.1.0 log, for code-scanning and vulnerability-management tools.

One run, one result per open finding. A finding has no file, so its location is logical:
the host, and the container or image on it. Fingerprints hash what identifies a finding
(host, rule, subject) and nothing that changes between scans, so a tool that receives the
same picture twice sees the same results, not new ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import translation

from rules import REGISTRY, Rule, Severity
from rules import catalogue as cat
from rules.base import CATALOGUE_VERSION

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
FINGERPRINT_KEY = "postureFinding/v1"

# GitHub's scale: over 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low. A string,
# as code scanning wants it.
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}
LEVELS = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
# problem.severity takes error | warning | recommendation.
PROBLEM_SEVERITY = {"error": "error", "warning": "warning", "note": "recommendation"}


def tool_version() -> str:
    try:
        return metadata.version("posture")
    except metadata.PackageNotFoundError:  # run from a checkout, not installed
        return "0.1.0"


def fingerprint(host: str, rule_id: str, subject_kind: str, subject_key: str) -> str:
    # Length-prefixed parts, so ("a", "bc") and ("ab", "c") cannot collide.
    parts = (host, rule_id, subject_kind, subject_key)
    text = "".join(f"{len(p)}:{p}" for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()


def severity_of(value: int) -> Severity:
    try:
        return Severity(value)
    except ValueError:
        return Severity.INFO


def _rule_descriptor(rule_id: str, rule: Rule | None, fallback: Severity) -> dict[str, Any]:
    severity = rule.severity if rule else fallback
    level = LEVELS[severity]
    properties: dict[str, Any] = {
        "tags": ["security", "container"],
        "security-severity": SECURITY_SEVERITY[severity],
        "problem.severity": PROBLEM_SEVERITY[level],
        "severity": severity.label,
    }
    if rule is None:  # a finding of a rule no longer in the catalogue
        return {
            "id": rule_id,
            "name": _identifier(rule_id),
            "shortDescription": {"text": rule_id},
            "defaultConfiguration": {"level": level},
            "properties": properties,
        }
    properties["tags"] += [f"owasp-docker-{n}" for n in rule.owasp]
    properties["tags"] += [f"cis-docker-1.6.0-{c}" for c in rule.cis]
    properties["tags"] += [f"cis-docker-1.8.0-{c}" for c in rule.cis_v18]
    properties["owasp"] = [str(n) for n in rule.owasp]
    properties["cis"] = list(rule.cis)
    properties["cis_v18"] = list(rule.cis_v18)
    return {
        "id": rule.id,
        "name": _identifier(rule.id),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.rationale},
        "help": {"text": rule.remediation.en, "markdown": _help_markdown(rule)},
        "helpUri": settings.POSTURE_BASE_URL + reverse("rule-detail", args=[rule.id]),
        "defaultConfiguration": {"level": level},
        "properties": properties,
    }


def _identifier(rule_id: str) -> str:
    """CTR-PRIVILEGED -> CtrPrivileged: SARIF wants `name` to be an identifier."""
    return "".join(part.capitalize() for part in rule_id.replace("_", "-").split("-"))


def _help_markdown(rule: Rule) -> str:
    blocks = [rule.remediation.en]
    # The log is in English whatever the page's language: labels too, not just rule texts.
    with translation.override("en"):
        for snippet in cat.snippets(rule):
            blocks.append(f"**{snippet['label']}**\n\n```\n{snippet['code']}\n```")
    blocks.append("References: " + "; ".join(rule.references()) if rule.references() else "")
    return "\n\n".join(b for b in blocks if b)


def _locations(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    host = str(row["host__name"])
    logical: list[dict[str, Any]] = [{"name": host, "fullyQualifiedName": host, "kind": "module"}]
    kind = str(row["subject_kind"])
    if kind != "daemon":
        name = str(row["subject_name"] or row["subject_key"])
        logical.append(
            {
                "name": name,
                "fullyQualifiedName": f"{host}/{kind}/{name}",
                "kind": "resource",
                "properties": {"subjectKind": kind, "subjectKey": str(row["subject_key"])},
            }
        )
    return [{"logicalLocations": logical}]


def _evidence(row: Mapping[str, Any]) -> list[dict[str, str]]:
    items = row["evidence"] if isinstance(row["evidence"], list) else []
    return [
        {"field": str(item.get("field", "")), "value": str(item.get("value", ""))}
        for item in items
        if isinstance(item, dict)
    ]


def _message(row: Mapping[str, Any], rule: Rule | None, evidence: list[dict[str, str]]) -> str:
    title = rule.title if rule else str(row["rule_id"])
    kind = str(row["subject_kind"])
    if kind == "daemon":
        subject = f"the Docker daemon of host '{row['host__name']}'"
    else:
        name = row["subject_name"] or row["subject_key"]
        subject = f"{kind} '{name}' on host '{row['host__name']}'"
    text = f"{title}: {subject}"
    if evidence:
        text += " (" + "; ".join(f"{e['field']} = {e['value']}" for e in evidence) + ")"
    return text


def _suppression(row: Mapping[str, Any]) -> dict[str, Any]:
    """An accepted finding (a risk exception in force): SARIF's "suppressed in an external
    system, status accepted", so code scanning shows it as dismissed, with who and why."""
    expires = row.get("exception__expires_at")
    return {
        "kind": "external",
        "status": "accepted",
        "justification": str(row.get("exception__reason") or ""),
        "properties": {
            "owner": str(row.get("exception__owner") or ""),
            "expiresAt": expires.isoformat() if expires else None,
        },
    }


def sarif_log(
    rows: Iterable[Mapping[str, Any]], *, truncated: bool = False, **properties: Any
) -> dict[str, Any]:
    """A SARIF log of findings given as export.FINDING_FIELDS rows (Finding values())."""
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results = []
    for row in rows:
        rule_id = str(row["rule_id"])
        rule = REGISTRY.get(rule_id)
        severity = severity_of(int(row["severity"]))  # the host's profile may re-grade it
        if rule_id not in index:
            index[rule_id] = len(rules)
            rules.append(_rule_descriptor(rule_id, rule, severity))
        evidence = _evidence(row)
        opened = row.get("opened_at")
        result: dict[str, Any] = {
            "ruleId": rule_id,
            "ruleIndex": index[rule_id],
            "level": LEVELS[severity],
            "message": {"text": _message(row, rule, evidence)},
            "locations": _locations(row),
            "partialFingerprints": {
                FINGERPRINT_KEY: fingerprint(
                    str(row["host__name"]),
                    rule_id,
                    str(row["subject_kind"]),
                    str(row["subject_key"]),
                )
            },
            "properties": {
                "host": str(row["host__name"]),
                "severity": severity.label,
                "security-severity": SECURITY_SEVERITY[severity],
                "subject": {
                    "kind": str(row["subject_kind"]),
                    "id": str(row["subject_key"]),
                    "name": str(row["subject_name"]),
                },
                "evidence": evidence,
                "openedAt": opened.isoformat() if opened else None,
            },
        }
        if row.get("accepted"):
            result["suppressions"] = [_suppression(row)]
        results.append(result)
    run_properties: dict[str, Any] = {"catalogueVersion": CATALOGUE_VERSION, **properties}
    if truncated:
        run_properties["truncated"] = True
    return {
        "$schema": SCHEMA_URI,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "Posture",
                        "version": tool_version(),
                        "semanticVersion": tool_version(),
                        "informationUri": settings.POSTURE_BASE_URL + reverse("rules"),
                        "rules": rules,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
                "properties": run_properties,
            }
        ],
    }

"""Findings as plain data: a host's report for the CLI's --format json, and the fleet's open
findings, filtered like the fleet page, for the CSV / JSON / SARIF downloads."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from access.scope import Scope
from findings import selection
from findings.models import Finding
from posture.lib.filters import LenientQuery, QueryFilters
from rules import REGISTRY, Severity

# What every findings export reads: one row per finding, the host's name joined in, so the
# number of statements does not grow with the number of hosts.
FINDING_FIELDS = (
    "host__name",
    "rule_id",
    "severity",
    "subject_kind",
    "subject_key",
    "subject_name",
    "evidence",
    "opened_at",
)
SEVERITY_LABELS = {s.label: s for s in Severity}
RULE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
CSV_COLUMNS = (
    "host",
    "rule_id",
    "title",
    "severity",
    "subject_kind",
    "subject_id",
    "subject_name",
    "evidence",
    "opened_at",
)
# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportFilters(QueryFilters):
    """The fleet page's host filters, plus ?rule= and ?severity= (repeatable, exact)."""

    hosts: selection.FleetFilters
    rule: str = ""
    severities: tuple[Severity, ...] = ()

    @classmethod
    def from_query(cls, params: Mapping[str, Any]) -> ExportFilters:
        read = LenientQuery(params)
        rule = read.raw("rule").strip()
        asked = map(str, read.getlist("severity"))
        wanted = {SEVERITY_LABELS[v] for v in asked if v in SEVERITY_LABELS}
        return cls(
            hosts=selection.FleetFilters.from_query(params),
            # Any well-formed id, known or not: a removed rule's findings can still be open.
            rule=rule if RULE_ID.fullmatch(rule) else "",
            severities=tuple(sorted(wanted, reverse=True)),
        )

    def params(self) -> dict[str, Any]:
        return {
            **self.hosts.params(),
            "rule": self.rule,
            "severity": [s.label for s in self.severities],
        }


def open_findings(filters: ExportFilters, scope: Scope) -> QuerySet[Finding]:
    """The open findings of the hosts in scope that the filters keep."""
    qs = selection.related_in(Finding.objects.open(), scope)
    if filters.hosts.active:
        hosts = selection.hosts_matching(filters.hosts, scope).values("pk")
        qs = qs.filter(host__in=hosts)
    if filters.rule:
        qs = qs.filter(rule_id=filters.rule)
    if filters.severities:
        qs = qs.filter(severity__in=[int(s) for s in filters.severities])
    return qs.order_by("host__name", "-severity", "rule_id", "subject_kind", "subject_name", "pk")


def finding_rows(qs: QuerySet[Finding]) -> QuerySet[Finding, dict[str, Any]]:
    return qs.values(*FINDING_FIELDS)


def evidence_text(evidence: Any) -> str:
    items = evidence if isinstance(evidence, list) else []
    return "; ".join(
        f"{item.get('field', '')} = {item.get('value', '')}"
        for item in items
        if isinstance(item, dict)
    )


def finding_data(row: Mapping[str, Any]) -> dict[str, Any]:
    rule = REGISTRY.get(row["rule_id"])
    try:
        severity = Severity(int(row["severity"]))
    except ValueError:
        severity = Severity.INFO
    return {
        "host": row["host__name"],
        "rule_id": row["rule_id"],
        "title": rule.title if rule else row["rule_id"],
        "severity": severity.label,
        "owasp": [str(n) for n in rule.owasp] if rule else [],
        "cis": list(rule.cis) if rule else [],
        "subject": {
            "kind": row["subject_kind"],
            "id": row["subject_key"],
            "name": row["subject_name"],
        },
        "evidence": row["evidence"],
        "opened_at": row["opened_at"].isoformat(),
    }


def csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_rows(rows: Iterable[Mapping[str, Any]]) -> Iterator[list[str]]:
    """The header, then one guarded row per finding."""
    yield list(CSV_COLUMNS)
    for row in rows:
        data = finding_data(row)
        cells = [
            data["host"],
            data["rule_id"],
            data["title"],
            data["severity"],
            data["subject"]["kind"],
            data["subject"]["id"],
            data["subject"]["name"],
            evidence_text(data["evidence"]),
            data["opened_at"],
        ]
        yield [csv_cell(c) for c in cells]

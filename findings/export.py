"""Findings as plain data: a host's report for the CLI's --format json, and the fleet's open
findings, filtered like the page the download was asked from (the fleet, a host, a rule, a
container or an image), for the CSV / JSON / SARIF downloads.

An accepted finding (a risk exception in force left it out of the score) is still listed,
marked as accepted with the exception's reason, owner and expiry: SARIF calls it a
suppression, which code-scanning tools show as dismissed rather than as an open alert."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from access.scope import Scope
from findings import drilldown, selection
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
    "accepted",
    "exception__reason",
    "exception__owner",
    "exception__expires_at",
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
    "accepted",
)
STATES = ("failing", "accepted")
HOST_NAME_MAX = 100  # hosts.Host.name
# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportFilters(QueryFilters):
    """The fleet page's host filters, plus what the other pages narrow to: ?rule= and
    ?severity= (repeatable, exact), ?host= (one host by name), ?container= (a container id on
    that host), ?name= (containers of that name), ?image= (an image id or reference, with the
    containers created from it), and the drill-down tables' ?kind= and ?search= (host,
    subject or evidence), ?state=failing|accepted."""

    hosts: selection.FleetFilters
    rule: str = ""
    severities: tuple[Severity, ...] = ()
    host: str = ""
    container: str = ""
    name: str = ""
    image: str = ""
    kind: str = ""
    search: str = ""
    state: str = ""

    @classmethod
    def from_query(cls, params: Mapping[str, Any]) -> ExportFilters:
        read = LenientQuery(params)
        rule = read.raw("rule").strip()
        asked = map(str, read.getlist("severity"))
        wanted = {SEVERITY_LABELS[v] for v in asked if v in SEVERITY_LABELS}
        container = read.raw("container").strip()
        name = read.text("name", drilldown.REFERENCE_MAX + 1)
        return cls(
            hosts=selection.FleetFilters.from_query(params),
            # Any well-formed id, known or not: a removed rule's findings can still be open.
            rule=rule if RULE_ID.fullmatch(rule) else "",
            severities=tuple(sorted(wanted, reverse=True)),
            host=read.text("host", HOST_NAME_MAX),
            container=container if drilldown.CONTAINER_ID.fullmatch(container) else "",
            name=name if len(name) <= drilldown.REFERENCE_MAX else "",
            image=drilldown.image_ref(read.raw("image").strip()) or "",
            kind=read.choice("kind", drilldown.KINDS),
            search=read.text("search", 200),
            state=read.choice("state", STATES),
        )

    def params(self) -> dict[str, Any]:
        return {
            **self.hosts.params(),
            "rule": self.rule,
            "severity": [s.label for s in self.severities],
            "host": self.host,
            "container": self.container,
            "name": self.name,
            "image": self.image,
            "kind": self.kind,
            "search": self.search,
            "state": self.state,
        }


def open_findings(filters: ExportFilters, scope: Scope) -> QuerySet[Finding]:
    """The open findings of the hosts in scope that the filters keep."""
    qs: QuerySet[Finding] = selection.related_in(Finding.objects.open(), scope)
    if filters.hosts.active:
        hosts = selection.hosts_matching(filters.hosts, scope).values("pk")
        qs = qs.filter(host__in=hosts)
    if filters.host:
        qs = qs.filter(host__name=filters.host)
    if filters.container:
        qs = qs.filter(subject_kind="container", subject_key=filters.container)
    if filters.name:
        qs = qs.filter(subject_kind="container", subject_name=filters.name)
    if filters.image:
        qs = qs.filter(pk__in=drilldown.image_view(filters.image, scope).findings.values("pk"))
    if filters.rule:
        qs = qs.filter(rule_id=filters.rule)
    if filters.severities:
        qs = qs.filter(severity__in=[int(s) for s in filters.severities])
    if filters.state:
        qs = qs.filter(accepted=filters.state == "accepted")
    if filters.kind or filters.search:
        qs = drilldown.FindingFilters(q=filters.search, kind=filters.kind).apply(qs)
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
        "accepted": bool(row.get("accepted")),
        "exception": exception_data(row),
    }


def exception_data(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The risk exception that accepted the finding, or None while it counts in the score."""
    if not row.get("accepted"):
        return None
    expires = row.get("exception__expires_at")
    return {
        "reason": row.get("exception__reason") or "",
        "owner": row.get("exception__owner") or "",
        "expires_at": expires.isoformat() if expires else None,
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
            "yes" if data["accepted"] else "",
        ]
        yield [csv_cell(c) for c in cells]

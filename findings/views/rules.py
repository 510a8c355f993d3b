"""The rule catalogue pages: every rule with its mappings and its pass rate across the fleet,
one rule with every open finding of it (findings.drilldown), and the catalogue as JSON.

The catalogue itself comes from rules.catalogue (plain data off REGISTRY); this
module adds the fleet numbers, parses filters and renders, in the fleet page's htmx pattern.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.http import Http404, HttpResponse, JsonResponse
from django.utils import translation
from django.views.decorators.http import require_GET

from access.policy import allow
from access.roles import Perm
from access.scope import Scope as HostScope
from access.services import request_access
from findings import drilldown, fixfirst, tallies
from posture.lib.filters import LenientQuery, QueryFilters
from posture.lib.htmx import HtmxHttpRequest, render_page
from rules import REGISTRY
from rules import catalogue as cat
from rules.base import CATALOGUE_VERSION, Scope, Source

SORTS = ("id", "title", "severity", "pass_rate", "failing")
# Columns whose useful first click is "most first": critical first, most failing hosts first.
DESCENDING_FIRST = {"severity", "failing"}


@dataclass(frozen=True)
class RuleFilters(QueryFilters):
    SORTS = SORTS
    DESCENDING_FIRST = DESCENDING_FIRST
    DEFAULT_SORT = "id"

    q: str = ""
    scope: str = ""
    severity: str = ""
    source: str = ""
    owasp: str = ""
    sort: str = "id"

    @classmethod
    def from_query(cls, params: Mapping[str, Any]) -> RuleFilters:
        """Read ?q=&scope=&severity=&source=&owasp=&sort= leniently: unknown values ignored."""
        read = LenientQuery(params)
        return cls(
            q=read.text("q", 200),
            scope=read.choice("scope", {s.value for s in Scope}),
            severity=read.choice("severity", {s.label for s in cat.SEVERITIES}),
            source=read.choice("source", {s.value for s in Source}),
            owasp=read.choice("owasp", {str(n) for n in cat.owasp_coverage()}),
            sort=read.sort(SORTS, cls.DEFAULT_SORT),
        )

    @property
    def active(self) -> bool:
        return bool(self.q or self.scope or self.severity or self.source or self.owasp)

    def params(self) -> dict[str, Any]:
        return {
            "q": self.q,
            "scope": self.scope,
            "severity": self.severity,
            "source": self.source,
            "owasp": self.owasp,
            "sort": self.sort_param(self.sort),
        }

    def matches(self, row: Mapping[str, Any]) -> bool:
        if self.scope and row["scope"] != self.scope:
            return False
        if self.severity and row["severity"] != self.severity:
            return False
        if self.source and row["source"] != self.source:
            return False
        if self.owasp and self.owasp not in {str(n) for n in row["owasp"]}:
            return False
        if self.q:
            text = [row["id"], row["title"], row["title_fr"], *row["cis"], *row["cis_v18"]]
            return self.q.casefold() in " ".join(text).casefold()
        return True

    def apply(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        keys = {
            "id": lambda r: r["id"],
            "title": lambda r: r["localized"]["title"].casefold(),
            "severity": lambda r: r["severity_level"],
            "pass_rate": lambda r: r["fleet"].pass_rate,
            "failing": lambda r: r["fleet"].hosts_failing,
        }
        key = keys[self.sort.removeprefix("-")]
        chosen = sorted((r for r in rows if self.matches(r)), key=lambda r: r["id"])
        # Rules without a value (no host assessed) stay at the bottom in both directions;
        # the sort is stable, so ties stay in id order.
        known = [r for r in chosen if key(r) is not None]
        known.sort(key=key, reverse=self.sort.startswith("-"))
        return known + [r for r in chosen if key(r) is None]


def fleet_stats(scope: HostScope) -> cat.FleetStats:
    # The per-rule totals scans keep (findings.tallies), not every host's JSON summary: that
    # was some MB to load and sum per request at 1,000 hosts. Over the account's hosts only:
    # a team's pass rates, not the fleet's.
    return tallies.fleet_stats(scope)


def rule_rows(language: str, stats: cat.FleetStats) -> list[dict[str, Any]]:
    rows = cat.catalogue_data(language)["rules"]
    for row in rows:
        row["fleet"] = stats.of(row["id"])
    return rows


# Lines of the fleet's "Fix first" panel.
FLEET_PLAN_LENGTH = 5


def ranked_fixes(scope: HostScope, titles: Mapping[str, str]) -> dict[str, Any]:
    ranking = fixfirst.fleet_ranking(scope)
    fixes = [
        {"fix": fix, "title": titles.get(fix.rule_id, fix.rule_id), "rule": REGISTRY[fix.rule_id]}
        for fix in ranking.fixes[:FLEET_PLAN_LENGTH]
        if fix.rule_id in REGISTRY
    ]
    return {"hosts": ranking.hosts, "score": ranking.score, "fixes": fixes}


@allow(Perm.VIEW)
@require_GET
def rules(request: HtmxHttpRequest) -> HttpResponse:
    filters = RuleFilters.from_query(request.GET)
    stats = fleet_stats(request_access(request).scope)
    all_rows = rule_rows(translation.get_language() or "en", stats)
    titles = {row["id"]: row["localized"]["title"] for row in all_rows}
    context = {
        "filters": filters,
        # The rules whose fix raises the fleet score most, over the account's hosts: a
        # callable, which the template calls only when it renders the panel (not for the
        # table's htmx swaps).
        "fix_first": partial(ranked_fixes, request_access(request).scope, titles),
        "rows": filters.apply(all_rows),
        "total": len(all_rows),
        "fleet_hosts": stats.hosts,
        "version": CATALOGUE_VERSION,
        "owasp": [
            {**row, "checks": [(i, titles[i]) for i in row["checks"]]} for row in cat.owasp_rows()
        ],
        "scopes": [s.value for s in Scope],
        "severities": [s.label for s in cat.SEVERITIES],
        "sources": [(s.value, cat.SOURCE_LABELS[s]) for s in Source],
        "owasp_choices": [str(n) for n in cat.owasp_coverage()],
    }
    return render_page(request, "findings/catalogue.html", "rules-table", context)


@allow(Perm.VIEW)
@require_GET
def rule_detail(request: HtmxHttpRequest, rule_id: str) -> HttpResponse:
    """The rule, its fleet pass rate, and every open finding of it: filtered, searched,
    sorted and paged, the table swapped by htmx with the URL kept shareable."""
    rule = REGISTRY.get(rule_id)
    if rule is None:
        raise Http404
    scope = request_access(request).scope
    filters = drilldown.FindingFilters.from_query(request.GET)
    base = drilldown.rule_findings(rule.id, scope)
    findings = drilldown.finding_page(drilldown.failing(base), filters, request.GET.get("page"))
    severities = drilldown.rule_severities(rule.id, scope)
    context = {
        "rule": cat.rule_data(rule, translation.get_language() or "en"),
        "stats": fleet_stats(scope).of(rule.id),
        "owasp": [(n, cat.OWASP_RULES.get(n, "")) for n in rule.owasp],
        "filters": filters,
        "findings": findings,
        "accepted": drilldown.accepted_group(base, filters),
        # Re-graded by a profile on some hosts: then severity is worth filtering by.
        "severities": [s.label for s in severities] if severities != [rule.severity] else [],
        "kinds": drilldown.KINDS,
        "page_url": request.path,
        "export_carry": "findings",
        "export_rule": rule.id,
    }
    return render_page(request, "findings/rule.html", "rule-findings", context)


@allow(Perm.VIEW)
@require_GET
def rules_json(request: HtmxHttpRequest) -> JsonResponse:
    data = cat.catalogue_data(translation.get_language() or "en")
    stats = fleet_stats(request_access(request).scope)
    data["fleet"] = {"hosts": stats.hosts}
    for row in data["rules"]:
        row["fleet"] = stats.of(row["id"]).as_dict()
    response = JsonResponse(data, json_dumps_params={"indent": 2, "ensure_ascii": False})
    if request.GET.get("download"):
        filename = f"posture-rules-{CATALOGUE_VERSION}.json"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response

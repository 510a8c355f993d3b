"""The rule catalogue as plain data: the JSON export and the catalogue page (rules.markdown
renders the same data as docs/RULES.md).

Everything is read off REGISTRY and the fields of Rule, never from a list of rule ids or
field names, so a rule (or a metadata field) added anywhere in rules/ shows up in the
page, the export and the docs without an edit here. Output is sorted, so the generated
markdown is stable enough to be compared byte for byte by tests/rules/test_rules_doc.py.

Fleet statistics are computed here too, from rule summaries (or their running totals) the
caller loads: no database.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from rules.base import CATALOGUE_VERSION, REGISTRY, Remediation, Rule, Scope, Severity, Source

# OWASP Docker Security Cheat Sheet, rule number -> title.
OWASP_RULES: dict[int | str, str] = {
    0: "Keep host and Docker up to date",
    1: "Do not expose the Docker daemon socket (even to the containers)",
    2: "Set a user",
    3: "Limit capabilities",
    4: "Prevent in-container privilege escalation",
    5: "Be mindful of inter-container connectivity",
    6: "Use a Linux security module (seccomp, AppArmor or SELinux)",
    7: "Limit resources (memory, CPU, file descriptors, processes, restarts)",
    8: "Set filesystem and volumes to read-only",
    9: "Integrate container scanning tools into your CI/CD pipeline",
    10: "Keep the Docker daemon logging level at info",
    11: "Run Docker in rootless mode",
    12: "Utilize Docker secrets for sensitive data management",
    13: "Enhance supply chain security",
}
# Why a cheat-sheet rule has no check, shown only while no rule maps it.
OWASP_NOT_CHECKED: dict[int | str, str] = {
    9: "a CI/CD practice: nothing on a running host shows whether its images were scanned "
    "before they were deployed",
    12: "a secret in an environment variable looks like any other value, and Posture "
    "redacts environment values when it collects them",
}
CIS_SECTIONS = {
    "1": "Host configuration",
    "2": "Docker daemon configuration",
    "3": "Docker daemon configuration files",
    "4": "Container images and build file",
    "5": "Container runtime",
    "6": "Docker security operations",
    "7": "Docker Swarm configuration",
}
SOURCE_LABELS = {Source.API: "Engine API", Source.SSH: "SSH to the host"}
SNIPPET_LABELS = {
    "docker_run": "docker run",
    "compose": "Compose",
    "kubernetes": "Kubernetes",
    "daemon_json": "daemon.json",
}
SNIPPET_LANGUAGES = {"docker_run": "sh", "compose": "yaml", "kubernetes": "yaml"}
SNIPPET_KINDS = tuple(f.name for f in dataclasses.fields(Remediation) if f.name not in {"en", "fr"})
SEVERITIES = sorted(Severity, reverse=True)  # critical first


def sorted_rules() -> list[Rule]:
    return sorted(REGISTRY.values(), key=lambda r: r.id)


def is_french(language: str | None) -> bool:
    return (language or "en").startswith("fr")


def _plain(value: Any) -> Any:
    """A metadata value as JSON-ready data: enums by name, tuples as lists."""
    if isinstance(value, Severity):
        return value.label
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def snippets(rule: Rule) -> list[dict[str, str]]:
    rem = rule.remediation
    return [
        {"kind": kind, "label": SNIPPET_LABELS.get(kind, kind.replace("_", " ")), "code": code}
        for kind in SNIPPET_KINDS
        if (code := getattr(rem, kind))
    ]


def how_decided(rule: Rule) -> str:
    return rule.decided_by or "not described yet"


def rule_data(rule: Rule, language: str = "en") -> dict[str, Any]:
    """Every metadata field of the rule (whatever fields Rule has today), plus the texts in
    `language` under "localized" and the non-empty fix snippets in display order."""
    data = {
        f.name: _plain(getattr(rule, f.name))
        for f in dataclasses.fields(rule)
        if not callable(getattr(rule, f.name))
    }
    fr = is_french(language)
    data["severity_level"] = int(rule.severity)
    data["source_label"] = SOURCE_LABELS.get(rule.source, str(rule.source))
    data["how_decided"] = how_decided(rule)
    data["localized"] = {
        "title": rule.title_fr if fr and rule.title_fr else rule.title,
        "rationale": rule.rationale_fr if fr and rule.rationale_fr else rule.rationale,
        "remediation": rule.remediation.fr if fr and rule.remediation.fr else rule.remediation.en,
    }
    data["snippets"] = snippets(rule)
    return data


def owasp_key(value: int | str) -> tuple[int, str]:
    """Cheat-sheet numbering order: 5 before "5a" before 6."""
    match = re.match(r"(\d+)(.*)", str(value))
    return (int(match.group(1)), match.group(2)) if match else (10**6, str(value))


def owasp_coverage() -> dict[int | str, list[str]]:
    """Cheat-sheet rule -> ids of the checks implementing it: 0..13 always (empty when none),
    plus any other number a rule maps (e.g. "5a")."""
    coverage: dict[int | str, list[str]] = {n: [] for n in OWASP_RULES}
    for rule in sorted_rules():
        for n in rule.owasp:
            coverage.setdefault(n, []).append(rule.id)
    return {n: coverage[n] for n in sorted(coverage, key=owasp_key)}


def owasp_rows() -> list[dict[str, Any]]:
    return [
        {
            "rule": n,
            "title": OWASP_RULES.get(n, ""),
            "checks": ids,
            "not_checked": "" if ids else OWASP_NOT_CHECKED.get(n, "no check implements it yet"),
        }
        for n, ids in owasp_coverage().items()
    ]


def cis_key(cid: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 10**6 for p in cid.split("."))


def _cis_pairs(rule: Rule) -> list[tuple[str, tuple[str, ...]]]:
    """(v1.6 id, v1.8 ids) for a rule. The two tuples list the same recommendations in the
    same order when their lengths match; otherwise every v1.6 id gets all the v1.8 ids."""
    if len(rule.cis) == len(rule.cis_v18):
        return [(c, (v,)) for c, v in zip(rule.cis, rule.cis_v18, strict=True)]
    if not rule.cis:
        return [("", (v,)) for v in rule.cis_v18]
    return [(c, rule.cis_v18) for c in rule.cis]


def cis_coverage() -> list[dict[str, Any]]:
    """One row per CIS recommendation a rule maps, in benchmark order: its v1.6 and v1.8 ids,
    profile levels, the checks deciding it and what they need (API, SSH)."""
    rows: dict[str, dict[str, Any]] = {}
    for rule in sorted_rules():
        for cid, v18 in _cis_pairs(rule):
            key = cid or f"v1.8:{v18[0]}"
            row = rows.setdefault(
                key, {"cis": cid, "cis_v18": set(), "levels": set(), "rules": [], "sources": set()}
            )
            row["cis_v18"].update(v18)
            row["rules"].append(rule.id)
            row["sources"].add(rule.source.value)
            if rule.cis_level is not None:
                row["levels"].add(rule.cis_level)
    out = []
    for row in rows.values():
        first = row["cis"] or min(row["cis_v18"], key=cis_key)
        section = first.split(".")[0]
        out.append(
            {
                "section": section,
                "section_title": CIS_SECTIONS.get(section, f"Section {section}"),
                "cis": row["cis"],
                "cis_v18": sorted(row["cis_v18"], key=cis_key),
                "levels": sorted(row["levels"]),
                "rules": row["rules"],
                "sources": sorted(row["sources"]),
            }
        )
    return sorted(
        out, key=lambda r: (cis_key(r["cis"] or "999"), [cis_key(v) for v in r["cis_v18"]])
    )


def summary_counts() -> dict[str, Any]:
    rules = sorted_rules()
    scopes = Counter(r.scope for r in rules)
    sources = Counter(r.source for r in rules)
    severities = Counter(r.severity for r in rules)
    api_cis = {c for r in rules if r.source is Source.API for c in r.cis}
    return {
        "rules": len(rules),
        "by_scope": {s.value: scopes[s] for s in Scope},
        "by_source": {s.value: sources[s] for s in Source},
        "by_severity": {s.label: severities[s] for s in SEVERITIES},
        "owasp_covered": sum(1 for ids in owasp_coverage().values() if ids),
        "owasp_total": len(owasp_coverage()),
        # The "about 53 of 117 from the API alone, about 100 with SSH", measured.
        "cis_api_only": len(api_cis),
        "cis_with_ssh": len({c for r in rules for c in r.cis}),
    }


# Built catalogues by (language, the registry's rule objects): the catalogue only changes
# when code does, and building it (116 rules, every metadata field) was a third of the
# rules page's time. Keyed on the rule objects so a test registering a rule sees it.
_BUILT: dict[tuple[str, tuple[int, ...]], dict[str, Any]] = {}


def catalogue_data(language: str = "en") -> dict[str, Any]:
    """The whole catalogue as JSON-ready data, texts in `language` under each "localized".
    Each call gets its own top-level dict and row dicts (callers add keys such as "fleet");
    the nested values are shared and must be treated as read-only."""
    lang = "fr" if is_french(language) else "en"
    key = (lang, tuple(id(rule) for rule in REGISTRY.values()))
    built = _BUILT.get(key)
    if built is None:
        built = {
            "version": CATALOGUE_VERSION,
            "language": lang,
            "summary": summary_counts(),
            "rules": [rule_data(r, lang) for r in sorted_rules()],
            "owasp": owasp_rows(),
            "cis": cis_coverage(),
        }
        if len(_BUILT) > 8:  # registries swapped by tests: keep the cache small
            _BUILT.clear()
        _BUILT[key] = built
    return {**built, "rules": [dict(row) for row in built["rules"]]}


# --- Fleet statistics ----------------------------------------------------------------------


def _count(entry: Mapping[str, Any], key: str) -> int:
    value = entry.get(key, 0)
    return value if isinstance(value, int) and value > 0 else 0


@dataclass
class RuleStats:
    """One rule across the fleet's current pictures. "Not assessed" is any host with a
    picture but no verdict: unknown, manual, or not evaluated by its last scan."""

    passing: int = 0  # subjects, summed over hosts
    failing: int = 0
    hosts_failing: int = 0
    hosts_assessed: int = 0
    hosts_not_applicable: int = 0
    hosts_not_assessed: int = 0

    @property
    def pass_rate(self) -> float | None:
        decided = self.passing + self.failing
        return self.passing / decided if decided else None

    @property
    def pass_percent(self) -> int | None:
        rate = self.pass_rate
        return None if rate is None else int(100 * rate)  # floor: 99.6% is not "100%"

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "pass_rate": self.pass_rate}


@dataclass
class FleetStats:
    hosts: int = 0  # hosts with a picture (a rule summary) to count
    rules: dict[str, RuleStats] = field(default_factory=dict)

    def of(self, rule_id: str) -> RuleStats:
        return self.rules.get(rule_id) or RuleStats()


# What one host adds to one rule's fleet totals, in RuleContribution's column order: passing and
# failing subjects, then 1 or 0 for "assessed", "failing" and "not applicable".
Contribution = tuple[int, int, int, int, int]
NOTHING: Contribution = (0, 0, 0, 0, 0)
# The pseudo rule under which a host with a picture counts itself (1 "assessed"): the
# fleet whose rest is "not assessed", kept and summed like any rule, so one read of the
# totals has it too. Not a rule id: no rule's id can be "*".
HOSTS = "*"


def _plus(a: Contribution, b: Contribution, sign: int = 1) -> Contribution:
    return (
        a[0] + sign * b[0],
        a[1] + sign * b[1],
        a[2] + sign * b[2],
        a[3] + sign * b[3],
        a[4] + sign * b[4],
    )


def has_picture(summary: Any) -> bool:
    """Whether a host counts in the fleet at all: never scanned successfully, it does not."""
    return isinstance(summary, Mapping) and bool(summary)


def contribution(summary: Any) -> dict[str, Contribution]:
    """Per rule, what one HostPosture.rule_summary adds to the fleet totals, plus the host
    itself under HOSTS; rules it adds nothing to are left out. Any rule id the summary
    names, in the catalogue or not: the result depends on the summary alone, so that a
    delta computed by a worker with another catalogue (a rolling upgrade) still adds up.
    Not assessed is not counted: it is what remains of the fleet's hosts
    (stats_from_totals), so a rule added to the catalogue later is "not assessed"
    everywhere without a row anywhere."""
    if not has_picture(summary):
        return {}
    out = {HOSTS: (0, 0, 1, 0, 0)}
    for rule_id, entry in summary.items():
        if not isinstance(rule_id, str) or rule_id == HOSTS or not isinstance(entry, Mapping):
            continue
        passing, failing = _count(entry, "pass"), _count(entry, "fail")
        if passing or failing:
            out[rule_id] = (passing, failing, 1, int(bool(failing)), 0)
        elif _count(entry, "na") and not (_count(entry, "unknown") or _count(entry, "manual")):
            out[rule_id] = (0, 0, 0, 0, 1)
    return out


def contribution_delta(old: Any, new: Any) -> dict[str, Contribution]:
    """Per rule whose contribution changed, new minus old: empty for an unchanged rescan."""
    before, after = contribution(old), contribution(new)
    delta = {}
    for rule_id in before.keys() | after.keys():
        a, b = after.get(rule_id, NOTHING), before.get(rule_id, NOTHING)
        if a != b:
            delta[rule_id] = _plus(a, b, -1)
    return delta


def fleet_totals(summaries: Iterable[Any]) -> dict[str, Contribution]:
    """Per rule (and HOSTS), the sum of the summaries' contributions."""
    totals: dict[str, Contribution] = {}
    for summary in summaries:
        for rule_id, c in contribution(summary).items():
            totals[rule_id] = _plus(totals.get(rule_id, NOTHING), c)
    return totals


def stats_from_totals(totals: Mapping[str, Contribution]) -> FleetStats:
    """FleetStats for every catalogue rule from summed contributions (fleet_totals)."""
    hosts = totals.get(HOSTS, NOTHING)[2]
    stats = FleetStats(hosts=hosts)
    for rule_id in REGISTRY:
        passing, failing, assessed, hosts_failing, na = totals.get(rule_id, NOTHING)
        stats.rules[rule_id] = RuleStats(
            passing=passing,
            failing=failing,
            hosts_failing=hosts_failing,
            hosts_assessed=assessed,
            hosts_not_applicable=na,
            hosts_not_assessed=hosts - assessed - na,
        )
    return stats


def fleet_stats(summaries: Iterable[Any]) -> FleetStats:
    """Per catalogue rule, pass rate and host counts over HostPosture.rule_summary values.
    Hosts without a summary (never scanned successfully) are left out of every count.

    The pages sum the same shares stored per host (findings.models.RuleContribution): this
    is the reference those are rebuilt from, and checked against in tests."""
    return stats_from_totals(fleet_totals(summaries))

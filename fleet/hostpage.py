"""The host page's report: failing rules with subjects and fixes, coverage of the catalogue,
the last good picture and scan history. Read-side only, a bounded number of queries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils import translation

from findings import vocabulary
from findings.models import Finding, HostPosture
from fleet import fixfirst
from fleet.queries import HISTORY_LENGTH
from hosts.models import Host
from policy import profiles
from policy.models import RiskException
from rules import REGISTRY, Rule, Severity, catalogue
from rules.base import Cause, Source
from scans.collect import CONTAINER_ID
from scans.models import ScanRun
from scans.status import HostStatus, grade_class, host_status, transport_of
from vulns.places import HostSummary, host_summary


def _local(en: str, fr: str) -> str:
    """The French text when the active language is French and the rule has one."""
    return fr if fr and (translation.get_language() or "en").startswith("fr") else en


@dataclass
class Subject:
    kind: str
    name: str
    evidence: list[str]
    # The risk exception that accepted this failure (or did, until it expired or was
    # revoked), and whether the last scan left it out of the score.
    accepted: bool = False
    exception: RiskException | None = None
    key: str = ""

    @property
    def container_id(self) -> str:
        """The container's id when it is a well-formed one, for a link to its page: the key
        comes from a daemon and is never trusted into a URL otherwise."""
        return self.key if self.kind == "container" and CONTAINER_ID.fullmatch(self.key) else ""

    @classmethod
    def of(cls, finding: Finding) -> Subject:
        evidence = [
            f"{item.get('field', '')} = {item.get('value', '')}"
            for item in finding.evidence
            if isinstance(item, dict)
        ]
        return cls(
            finding.subject_kind,
            finding.subject_name,
            evidence,
            accepted=finding.accepted,
            exception=finding.exception,
            key=finding.subject_key,
        )


@dataclass
class FailingRule:
    rule_id: str
    severity: Severity
    rule: Rule | None  # None for a rule retired since the finding was opened
    subjects: list[Subject] = field(default_factory=list)

    @property
    def title(self) -> str:
        return _local(self.rule.title, self.rule.title_fr) if self.rule else self.rule_id

    @property
    def rationale(self) -> str:
        return _local(self.rule.rationale, self.rule.rationale_fr) if self.rule else ""

    @property
    def remediation_text(self) -> str:
        return _local(self.rule.remediation.en, self.rule.remediation.fr) if self.rule else ""

    @property
    def snippets(self) -> list[dict[str, str]]:
        return catalogue.snippets(self.rule) if self.rule else []

    @property
    def accepted(self) -> int:
        """Failing subjects a risk exception accepted: listed, but out of the score."""
        return sum(1 for s in self.subjects if s.accepted)


@dataclass
class FailingSubject:
    """A container or image of the host with the rules it fails (accepted ones left out)."""

    subject: Subject
    rules: list[str] = field(default_factory=list)
    worst: Severity = Severity.INFO


def failing_subjects(failing: list[FailingRule], kind: str) -> list[FailingSubject]:
    """The host's subjects of one kind that fail a rule, worst first: which container to
    look at, from the findings the page has loaded already."""
    out: dict[str, FailingSubject] = {}
    for group in failing:
        for subject in group.subjects:
            if subject.kind != kind or subject.accepted:
                continue
            item = out.setdefault(subject.key or subject.name, FailingSubject(subject))
            item.rules.append(group.rule_id)
            item.worst = max(item.worst, group.severity)
    return sorted(out.values(), key=lambda s: (-s.worst, -len(s.rules), s.subject.name))


@dataclass
class NotAssessed:
    rule_id: str
    title: str
    unknown: int
    reasons: list[str]


def _severity(value: int) -> Severity:
    try:
        return Severity(value)
    except ValueError:  # a severity from a newer catalogue than this process knows
        return Severity.INFO


# Subjects listed per failing rule on the host page; the rest load on demand (htmx).
SUBJECTS_SHOWN = 5


def failing_rules(host: Host, rule_id: str | None = None) -> list[FailingRule]:
    """The host's open findings grouped by rule, worst first; of one rule when given."""
    findings = Finding.objects.open().for_host(host)
    if rule_id is not None:
        findings = findings.filter(rule_id=rule_id)
    findings = findings.select_related("exception").order_by(
        "-severity", "rule_id", "subject_kind", "subject_name"
    )
    groups: dict[str, FailingRule] = {}
    for finding in findings:
        group = groups.get(finding.rule_id)
        if group is None:
            severity = _severity(finding.severity)
            rule = REGISTRY.get(finding.rule_id)
            group = groups[finding.rule_id] = FailingRule(finding.rule_id, severity, rule)
        group.subjects.append(Subject.of(finding))
    return list(groups.values())


def not_assessed(summary: Mapping[str, Any]) -> list[NotAssessed]:
    out = []
    for rule_id, entry in sorted(summary.items()):
        if not isinstance(entry, dict):
            continue
        if entry.get("unknown", 0) > 0 and entry.get("pass", 0) + entry.get("fail", 0) == 0:
            rule = REGISTRY.get(rule_id)
            title = _local(rule.title, rule.title_fr) if rule else rule_id
            reasons = [str(r) for r in entry.get("reasons", [])]
            out.append(NotAssessed(rule_id, title, int(entry["unknown"]), reasons))
    return out


@dataclass
class RuleRef:
    rule_id: str
    title: str
    guidance: str = ""  # manual rules: what a person should check
    reasons: list[str] = field(default_factory=list)  # unknown rules: why, in the rule's words


class Action:
    """What would assess a group of unknown rules: the template words each one."""

    SSH = "ssh"  # give the host SSH access (host-level checks)
    PERMISSION = "permission"  # let the SSH user read the files it was refused
    DEEP = "deep"  # read whole images (image scan mode "deep")
    VULN_DATA = "vuln_data"  # import vulnerability data for the images' distributions
    NONE = "none"  # the engine has no such feature: nothing to do
    UNKNOWN = ""


def _action(cause: str, reasons: list[str]) -> str:
    # The causes say which fact was missing; for data the daemon did not give, the rule's
    # own reason is all there is to tell a deep image read or vulnerability data apart.
    text = " ".join(reasons).casefold()
    if cause == Cause.NO_SSH:
        return Action.SSH
    if cause == Cause.PERMISSION_DENIED:
        return Action.PERMISSION
    if cause == Cause.NOT_SUPPORTED:
        return Action.NONE
    if "vulnerability data" in text:
        return Action.VULN_DATA
    if "deep" in text:
        return Action.DEEP
    return Action.UNKNOWN


@dataclass
class CauseGroup:
    cause: str  # rules.base.Cause value
    label: str
    rules: list[RuleRef]
    action: str = Action.UNKNOWN

    @property
    def reasons(self) -> list[str]:
        """The distinct reasons of its rules, a few: the line's own words."""
        seen: list[str] = []
        for ref in self.rules:
            for reason in ref.reasons:
                if reason not in seen:
                    seen.append(reason)
        return seen[:3]


@dataclass
class SourceCoverage:
    source: str  # rules.base.Source value
    assessed: int
    total: int


@dataclass
class Coverage:
    """Two readings of one rule summary. `assessed` of `applicable` (the facts card): rules
    decided out of rules that concern the host. The rest places every catalogue rule in one
    bucket: decided, not applicable, unknown for a cause, manual, or not evaluated by the last
    scan (no subject of its kind, or a rule added to the catalogue since)."""

    assessed: int
    applicable: int
    catalogue: int = 0
    decided: int = 0
    not_applicable: list[RuleRef] = field(default_factory=list)
    causes: list[CauseGroup] = field(default_factory=list)
    manual: list[RuleRef] = field(default_factory=list)
    not_evaluated: list[RuleRef] = field(default_factory=list)
    sources: list[SourceCoverage] = field(default_factory=list)
    # SSH rules unknown only because the host has no SSH access: what adding it would assess.
    ssh_would_add: int = 0

    @property
    def percent(self) -> int | None:
        return round(100 * self.assessed / self.applicable) if self.applicable else None

    @property
    def unknown(self) -> int:
        """Catalogue rules not assessed for a cause (the "Not assessed" section's count)."""
        return sum(len(g.rules) for g in self.causes)

    @property
    def catalogue_percent(self) -> int | None:
        return round(100 * self.decided / self.catalogue) if self.catalogue else None


def _n(entry: Mapping[str, Any], key: str) -> int:
    value = entry.get(key, 0)
    return value if isinstance(value, int) else 0


def _cause_rank(cause: str) -> int:
    order = [c.value for c in Cause]
    return order.index(cause) if cause in order else len(order)


def _main_cause(entry: Mapping[str, Any]) -> str:
    """The cause behind most of a rule's unknown verdicts: a rule is listed once."""
    causes = entry.get("causes")
    counted = (
        {c: n for c, n in causes.items() if isinstance(n, int)} if isinstance(causes, dict) else {}
    )
    default = Cause.DATA_MISSING.value
    return min(counted, key=lambda c: (-counted[c], _cause_rank(c)), default=default)


def _cause_label(cause: str) -> str:
    return vocabulary.cause_label(cause)


def coverage(summary: Mapping[str, Any]) -> Coverage:
    """Rules decided (pass/fail) out of rules that concern the host (anything but n/a only),
    and where each catalogue rule stands for this host."""
    assessed = applicable = 0
    for entry in summary.values():
        if not isinstance(entry, dict):
            continue
        decided = entry.get("pass", 0) + entry.get("fail", 0)
        if decided or entry.get("unknown", 0):
            applicable += 1
        if decided:
            assessed += 1
    result = Coverage(assessed, applicable, catalogue=len(REGISTRY))
    groups: dict[str, CauseGroup] = {}
    per_source: dict[str, SourceCoverage] = {}
    for rule in sorted(REGISTRY.values(), key=lambda r: r.id):
        entry = summary.get(rule.id)
        entry = entry if isinstance(entry, dict) else {}
        ref = RuleRef(rule.id, _local(rule.title, rule.title_fr))
        tally = per_source.setdefault(rule.source, SourceCoverage(rule.source.value, 0, 0))
        tally.total += 1
        if _n(entry, "pass") + _n(entry, "fail"):
            result.decided += 1
            tally.assessed += 1
        elif _n(entry, "unknown"):
            cause = _main_cause(entry)
            reasons = entry.get("reasons")
            ref.reasons = [str(r) for r in reasons if r] if isinstance(reasons, list) else []
            action = _action(cause, ref.reasons)
            group = groups.get(f"{cause}:{action}")
            if group is None:
                group = CauseGroup(cause, _cause_label(cause), [], action)
                groups[f"{cause}:{action}"] = group
            group.rules.append(ref)
            if cause == Cause.NO_SSH and rule.source is Source.SSH:
                result.ssh_would_add += 1
        elif _n(entry, "manual"):
            reasons = entry.get("reasons")
            reasons = [str(r) for r in reasons if r] if isinstance(reasons, list) else []
            ref.guidance = " ".join(reasons) or _local(rule.remediation.en, rule.remediation.fr)
            result.manual.append(ref)
        elif _n(entry, "na"):
            result.not_applicable.append(ref)
        else:
            result.not_evaluated.append(ref)
    result.causes = sorted(
        groups.values(), key=lambda g: (_cause_rank(g.cause), g.cause, -len(g.rules), g.action)
    )
    result.sources = [per_source[s] for s in Source if s in per_source]
    return result


@dataclass
class HostReport:
    host: Host
    posture: HostPosture | None
    status: HostStatus
    transport: str
    last_scan: ScanRun | None
    failing: list[FailingRule]
    not_assessed: list[NotAssessed]
    coverage: Coverage
    history: list[ScanRun]
    profile: list[profiles.Effective]
    vulnerabilities: HostSummary | None = None
    plan: fixfirst.Plan | None = None
    # Where the last scan read the host-level checks: "local", "ssh", or "" when unsaid.
    host_checks: str = ""
    host_checks_note: str = ""  # the scan's words on why, when they were not read

    @property
    def grade_class(self) -> str:
        return grade_class(self.posture.grade if self.posture else None)

    @property
    def subject_sections(self) -> list[tuple[str, list[FailingSubject], int | None]]:
        """(kind, its failing subjects, how many the host has) for containers and images."""
        seen = self.posture if self.posture and self.posture.last_success_at else None
        return [
            (
                "container",
                failing_subjects(self.failing, "container"),
                seen.containers if seen else None,
            ),
            ("image", failing_subjects(self.failing, "image"), seen.images if seen else None),
        ]


def current_status(host: Host) -> tuple[HostStatus, HostPosture | None]:
    posture = HostPosture.objects.filter(host=host).first()
    active = ScanRun.objects.active().for_host(host).exists()
    return host_status(host, posture, active), posture


def host_report(host: Host) -> HostReport:
    status, posture = current_status(host)
    summary = posture.rule_summary if posture and isinstance(posture.rule_summary, dict) else {}
    history = list(ScanRun.objects.for_host(host)[:HISTORY_LENGTH])
    last_scan = None
    if posture and posture.last_scan_id:
        last_scan = next((s for s in history if s.pk == posture.last_scan_id), None)
        if last_scan is None:
            last_scan = ScanRun.objects.filter(pk=posture.last_scan_id).first()
    failing = failing_rules(host)
    profile = sorted(profiles.effective(host).values(), key=lambda e: e.rule_id)
    # The scan behind the picture says where it read the host-level checks; it is nearly
    # always among the recent runs loaded above (no query of its own).
    current = next((s for s in history if posture and s.pk == posture.current_scan_id), None)
    return HostReport(
        host=host,
        posture=posture,
        status=status,
        transport=transport_of(host),
        last_scan=last_scan,
        failing=failing,
        not_assessed=not_assessed(summary),
        coverage=coverage(summary),
        history=history,
        profile=profile,
        vulnerabilities=host_summary(host),
        plan=fixfirst.plan(summary, posture.score if posture else None, failing, profile),
        host_checks=current.host_access if current else "",
        host_checks_note=current.host_access_note if current else "",
    )

"""Which triage decision, if any, covers one vulnerability of one image on one host.

One definition for the pages, the rules' input (vulns.summary) and the exports, so a
vulnerability marked "not affected" disappears from the score, the counts and the alerts
together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from access.scope import TEAM_LABEL
from access.scope import Scope as HostScope
from hosts.models import Host
from vulns.models import VulnDecision


def repository(reference: str) -> str:
    """The repository part of an image reference: "reg.example:5000/app:1.2@sha256:…" →
    "reg.example:5000/app". Decisions are keyed on it so that they survive new tags and
    rebuilds of the same repository."""
    name = reference.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name = name[:colon]
    return name


def repositories(references: Iterable[str]) -> set[str]:
    return {repository(ref) for ref in references if ref and not ref.startswith("sha256:")}


class Decisions:
    """The decisions in force at one moment, indexed by vulnerability."""

    def __init__(self, decisions: Iterable[VulnDecision]) -> None:
        self.by_vuln: dict[str, list[VulnDecision]] = defaultdict(list)
        for decision in decisions:
            self.by_vuln[decision.vuln].append(decision)

    @classmethod
    def in_force(cls, vulns: Iterable[str] | None = None, now: datetime | None = None) -> Decisions:
        now = now or timezone.now()
        rows = VulnDecision.objects.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )
        if vulns is not None:
            rows = rows.filter(vuln__in=list(vulns))
        return cls(rows)

    def __bool__(self) -> bool:
        return bool(self.by_vuln)

    def covering(
        self,
        vuln: str,
        package: str,
        repos: set[str],
        labels: Mapping[str, str] | None = None,
    ) -> VulnDecision | None:
        for decision in self.by_vuln.get(vuln, ()):
            scope, value = decision.scope, decision.scope_value
            if (
                scope == VulnDecision.Scope.FLEET
                or (scope == VulnDecision.Scope.PACKAGE and value == package)
                or (scope == VulnDecision.Scope.REPOSITORY and value in repos)
                or (scope == VulnDecision.Scope.LABEL and _label_matches(value, labels or {}))
            ):
                return decision
        return None


def _label_matches(value: str, labels: Mapping[str, str]) -> bool:
    key, _, wanted = value.partition("=")
    return key in labels and str(labels[key]) == wanted


# -- which decisions an account's scope sees -----------------------------------------------
#
# The rule: a decision concerns a scope when it can cover a host of it. Fleet, repository and
# package decisions are bound to no host (they apply wherever the vulnerability runs), so
# they concern every scope; a label decision concerns a scope when at least one host of the
# scope carries that label (team=pay: the accounts of team pay; env=prod: every team with a
# production host). A scope of the whole fleet sees every decision.


def label_pairs(scope: HostScope) -> set[str] | None:
    """The "key=value" labels of the hosts in `scope` (one statement), or None for the
    whole fleet (every label is then in scope)."""
    if scope.all_hosts:
        return None
    pairs: set[str] = set()
    for labels in scope.filter(Host.objects.all()).values_list("labels", flat=True):
        if isinstance(labels, dict):
            pairs.update(f"{key}={value}" for key, value in labels.items())
    return pairs


def concerns(decision: VulnDecision, pairs: set[str] | None) -> bool:
    """`pairs` from label_pairs(): see the rule above."""
    if pairs is None or decision.scope != VulnDecision.Scope.LABEL:
        return True
    return decision.scope_value in pairs


def visible(decisions: Iterable[VulnDecision], scope: HostScope) -> list[VulnDecision]:
    pairs = label_pairs(scope)
    return [d for d in decisions if concerns(d, pairs)]


def may_decide(scope: HostScope, decision_scope: str, value: str) -> bool:
    """An account limited to some teams decides for them only: a label decision on one of
    its teams. A fleet, repository or package decision reaches other teams' hosts too."""
    if scope.all_hosts:
        return True
    key, _, team = value.partition("=")
    return decision_scope == VulnDecision.Scope.LABEL and key == TEAM_LABEL and team in scope.teams

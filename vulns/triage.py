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

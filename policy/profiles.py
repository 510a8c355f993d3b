"""Rule profiles: which overrides apply to a host, and what they do to its evaluations.

Precedence: an override naming the host beats any label override. Among label overrides
that disagree the stricter one wins (a rule stays on if any of them keeps it on; the
highest severity is kept), so that adding a label never quietly weakens a host's profile.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.db.models import Q

from hosts.models import Host
from policy.models import RuleOverride
from rules import Evaluation, Outcome, Severity
from rules.base import Result


@dataclass(frozen=True)
class Effective:
    rule_id: str
    disabled: bool
    severity: Severity | None
    overrides: tuple[RuleOverride, ...]

    @property
    def reason(self) -> str:
        return "; ".join(f"{o.scope_label}: {o.reason}" for o in self.overrides)


def overrides_for(host: Host) -> list[RuleOverride]:
    labels = Q()
    for key, value in (host.labels or {}).items():
        labels |= Q(host__isnull=True, label_key=str(key), label_value=str(value))
    query = Q(host=host) | labels if labels else Q(host=host)
    # Approved only: an override waiting for its approver (four eyes) changes nothing yet.
    return list(RuleOverride.objects.approved().filter(query).select_related("host"))


def effective(host: Host) -> dict[str, Effective]:
    by_rule: dict[str, list[RuleOverride]] = {}
    for override in overrides_for(host):
        by_rule.setdefault(override.rule_id, []).append(override)
    out = {}
    for rule_id, items in by_rule.items():
        chosen = [o for o in items if o.host_id] or items
        disabled = all(o.action == RuleOverride.Action.DISABLE for o in chosen)
        levels = [Severity(o.severity) for o in chosen if o.severity is not None]
        out[rule_id] = Effective(rule_id, disabled, max(levels) if levels else None, tuple(chosen))
    return out


def apply(evaluations: list[Evaluation], profile: dict[str, Effective]) -> list[Evaluation]:
    """Turned-off rules become not applicable, with the reason; re-graded rules carry their
    new severity into scoring and findings."""
    if not profile:
        return evaluations
    out = []
    for ev in evaluations:
        eff = profile.get(ev.rule.id)
        if eff is None:
            out.append(ev)
        elif eff.disabled:
            out.append(
                replace(
                    ev,
                    result=Result(
                        Outcome.NOT_APPLICABLE, reason=f"turned off by profile ({eff.reason})"[:300]
                    ),
                )
            )
        elif eff.severity is not None:
            out.append(replace(ev, rule=replace(ev.rule, severity=eff.severity)))
        else:
            out.append(ev)
    return out

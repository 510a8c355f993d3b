"""Rule profile overrides as plain functions: request, approve, reject, remove.

An override applies from the next scan of the hosts it concerns, once approved (four eyes:
policy.approval; policy.profiles reads approved ones only). Each step is in the audit trail;
removing the last override of a host or a label also records that its profile is gone.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import record
from hosts.models import Host
from policy import approval
from policy.models import Review, RuleOverride


def _details(override: RuleOverride) -> dict[str, Any]:
    return {
        "rule": override.rule_id,
        "scope": override.scope_label,
        "action": override.action,
        "severity": override.severity,
        "reason": override.reason,
        "status": override.status,
    }


def create(
    *,
    rule_id: str,
    action: str,
    reason: str,
    severity: int | None = None,
    host: Host | None = None,
    label_key: str = "",
    label_value: str = "",
    requested_by: Any = None,
    can_approve: bool = False,
    request: Any = None,
) -> RuleOverride:
    now = timezone.now()
    review = approval.first_review(requested_by, can_approve, now)
    with transaction.atomic():
        override = RuleOverride.objects.create(
            rule_id=rule_id,
            host=host,
            label_key=label_key,
            label_value=label_value,
            action=action,
            severity=severity,
            reason=reason,
            created_by=requested_by.get_username()[:150] if review["requested_by"] else "",
            created_at=now,
            **review,
        )
        details = _details(override)
        record("override.created", request=request, target=override, details=details)
        if override.is_approved:
            record("override.approved", request=request, target=override, details=details)
    return override


def approve(override: RuleOverride, reviewer: Any, request: Any = None) -> bool:
    """Approve a pending override (never its requester's own: approval.Refused)."""
    with transaction.atomic():
        done = approval.approve(override, reviewer, timezone.now())
        if done:
            override.refresh_from_db()
            details = _details(override)
            record("override.approved", request=request, target=override, details=details)
    return done


def reject(override: RuleOverride, reviewer: Any, request: Any = None) -> bool:
    with transaction.atomic():
        done = approval.reject(override, reviewer, timezone.now())
        if done:
            override.refresh_from_db()
            details = _details(override)
            record("override.rejected", request=request, target=override, details=details)
    return done


def delete(override: RuleOverride, request: Any = None) -> None:
    """Remove an override; when no other override (in force or waiting) names its host or
    label, that rule profile is gone as a whole, which the trail says too."""
    with transaction.atomic():
        details = _details(override)
        label = override.scope_label
        record("override.deleted", request=request, target=override, details=details)
        others = RuleOverride.objects.exclude(status=Review.REJECTED).exclude(pk=override.pk)
        if override.host_id is not None:
            same_scope = others.filter(host_id=override.host_id)
        else:
            same_scope = others.filter(
                host__isnull=True, label_key=override.label_key, label_value=override.label_value
            )
        override.delete()
        if not same_scope.exists():
            record(
                "profile.deleted",
                request=request,
                target_type="ruleprofile",
                target_id=label,
                details={"scope": label},
            )

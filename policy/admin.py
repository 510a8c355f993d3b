"""Admin: exceptions and overrides are a record. Create, approve and revoke them on
/exceptions/ and /profiles/ (four eyes, rescans, the audit trail): the admin shows them but
can neither add nor change one, so nothing approved changes behind its approver's back."""

from __future__ import annotations

from django.contrib import admin

from policy.models import RiskException, RuleOverride
from posture.lib.admin import ReadOnlyAdmin

REVIEW_FIELDS = [
    "status",
    "requested_by",
    "approved_by",
    "approved_at",
    "rejected_by",
    "rejected_at",
    "created_by",
    "created_at",
]


@admin.register(RiskException)
class RiskExceptionAdmin(ReadOnlyAdmin):
    list_display = ["rule_id", "scope_label", "owner", "expires_at", "status", "revoked_at"]
    list_filter = ["rule_id", "status"]
    search_fields = ["rule_id", "host__name", "label_value", "owner", "reason"]
    list_select_related = ["host"]
    raw_id_fields = ["host"]
    readonly_fields = [*REVIEW_FIELDS, "revoked_at", "revoked_by", "expiry_handled_at"]


@admin.register(RuleOverride)
class RuleOverrideAdmin(ReadOnlyAdmin):
    list_display = (
        "rule_id",
        "host",
        "label_key",
        "label_value",
        "action",
        "severity",
        "status",
        "created_by",
        "created_at",
    )
    list_filter = ("action", "status")
    search_fields = ("rule_id", "reason", "host__name", "label_value")
    readonly_fields = REVIEW_FIELDS

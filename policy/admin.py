"""Admin: exceptions and overrides are a record. Create, approve and revoke them on
/exceptions/ and /profiles/ (four eyes, rescans, the audit trail): the admin shows them but
can neither add nor change one, so nothing approved changes behind its approver's back."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from policy.models import RiskException, RuleOverride

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
class RiskExceptionAdmin(admin.ModelAdmin):
    list_display = ["rule_id", "scope_label", "owner", "expires_at", "status", "revoked_at"]
    list_filter = ["rule_id", "status"]
    search_fields = ["rule_id", "host__name", "label_value", "owner", "reason"]
    list_select_related = ["host"]
    raw_id_fields = ["host"]
    readonly_fields = [*REVIEW_FIELDS, "revoked_at", "revoked_by", "expiry_handled_at"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RuleOverride)
class RuleOverrideAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

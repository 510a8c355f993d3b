"""Admin: exceptions are a record; create and revoke them on /exceptions/, which rescans."""

from __future__ import annotations

from django.contrib import admin

from policy.models import RiskException, RuleOverride


@admin.register(RiskException)
class RiskExceptionAdmin(admin.ModelAdmin):
    list_display = ["rule_id", "scope_label", "owner", "expires_at", "created_by", "revoked_at"]
    list_filter = ["rule_id"]
    search_fields = ["rule_id", "host__name", "label_value", "owner", "reason"]
    list_select_related = ["host"]
    raw_id_fields = ["host"]
    readonly_fields = ["created_at", "revoked_at", "revoked_by", "expiry_handled_at"]


@admin.register(RuleOverride)
class RuleOverrideAdmin(admin.ModelAdmin):
    list_display = (
        "rule_id",
        "host",
        "label_key",
        "label_value",
        "action",
        "severity",
        "created_by",
        "created_at",
    )
    list_filter = ("action",)
    search_fields = ("rule_id", "reason", "host__name", "label_value")

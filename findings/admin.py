from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from findings.models import Container, Finding, HostPosture, Image, ScoreSample


@admin.register(HostPosture)
class HostPostureAdmin(admin.ModelAdmin):
    list_display = [
        "host",
        "score",
        "grade",
        "failing_critical",
        "failing_high",
        "last_success_at",
        "last_error_class",
        "consecutive_failures",
    ]
    list_filter = ["grade", "last_error_class"]
    search_fields = ["host__name"]
    list_select_related = ["host"]
    raw_id_fields = ["host", "current_scan", "last_scan"]

    # The picture has one writer, findings.store: an edit here would leave the rule pages'
    # shares (RuleContribution) and the findings out of step with it.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: HostPosture | None = None) -> bool:
        return False


@admin.register(Finding)
class FindingAdmin(admin.ModelAdmin):
    list_display = [
        "rule_id",
        "host",
        "severity",
        "subject_kind",
        "subject_name",
        "opened_at",
        "resolved_at",
    ]
    list_filter = ["severity", "subject_kind", "rule_id"]
    search_fields = ["host__name", "rule_id", "subject_name"]
    list_select_related = ["host"]
    raw_id_fields = ["host", "opened_scan", "resolved_scan"]


@admin.register(Container)
class ContainerAdmin(admin.ModelAdmin):
    list_display = ["name", "host", "image_ref", "state", "first_seen_at", "gone_at"]
    list_filter = ["state"]
    search_fields = ["host__name", "name", "container_id", "image_ref"]
    list_select_related = ["host"]
    raw_id_fields = ["host"]


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["name", "host", "image_id", "first_seen_at", "gone_at"]
    search_fields = ["host__name", "name", "image_id"]
    list_select_related = ["host"]
    raw_id_fields = ["host"]


@admin.register(ScoreSample)
class ScoreSampleAdmin(admin.ModelAdmin):
    list_display = ["host", "taken_at", "score", "grade", "failing_critical", "failing_high"]
    search_fields = ["host__name"]
    list_select_related = ["host"]
    raw_id_fields = ["host", "scan"]

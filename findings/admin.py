"""Read-only admin of what scans write: findings.store is the one writer of the picture, the
findings and the inventory; an edit here would put them out of step with the rule pages'
totals, and would let a hand-made row pass for what a daemon reported."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from findings.models import Container, Finding, HostPosture, Image, ScoreSample


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(HostPosture)
class HostPostureAdmin(ReadOnly):
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


@admin.register(Finding)
class FindingAdmin(ReadOnly):
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
class ContainerAdmin(ReadOnly):
    list_display = ["name", "host", "image_ref", "state", "first_seen_at", "gone_at"]
    list_filter = ["state"]
    search_fields = ["host__name", "name", "container_id", "image_ref"]
    list_select_related = ["host"]
    raw_id_fields = ["host"]


@admin.register(Image)
class ImageAdmin(ReadOnly):
    list_display = ["name", "host", "image_id", "first_seen_at", "gone_at"]
    search_fields = ["host__name", "name", "image_id"]
    list_select_related = ["host"]
    raw_id_fields = ["host"]


@admin.register(ScoreSample)
class ScoreSampleAdmin(ReadOnly):
    list_display = ["host", "taken_at", "score", "grade", "failing_critical", "failing_high"]
    search_fields = ["host__name"]
    list_select_related = ["host"]
    raw_id_fields = ["host", "scan"]

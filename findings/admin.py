"""Read-only admin of what scans write: findings.store is the one writer of the picture, the
findings and the inventory; an edit here would put them out of step with the rule pages'
totals, and would let a hand-made row pass for what a daemon reported."""

from __future__ import annotations

from django.contrib import admin

from findings.models import Container, Finding, HostPosture, Image, ScoreSample
from posture.lib.admin import ReadOnlyAdmin


@admin.register(HostPosture)
class HostPostureAdmin(ReadOnlyAdmin):
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
class FindingAdmin(ReadOnlyAdmin):
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
class ContainerAdmin(ReadOnlyAdmin):
    list_display = ["name", "host", "image_ref", "state", "first_seen_at", "gone_at"]
    list_filter = ["state"]
    search_fields = ["host__name", "name", "container_id", "image_ref"]
    list_select_related = ["host"]
    raw_id_fields = ["host"]


@admin.register(Image)
class ImageAdmin(ReadOnlyAdmin):
    list_display = ["name", "host", "image_id", "first_seen_at", "gone_at"]
    search_fields = ["host__name", "name", "image_id"]
    list_select_related = ["host"]
    raw_id_fields = ["host"]


@admin.register(ScoreSample)
class ScoreSampleAdmin(ReadOnlyAdmin):
    list_display = ["host", "taken_at", "score", "grade", "failing_critical", "failing_high"]
    search_fields = ["host__name"]
    list_select_related = ["host"]
    raw_id_fields = ["host", "scan"]

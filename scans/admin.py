"""Read-mostly admin for scan data: rows are written by scans, not by hand."""

from __future__ import annotations

from django.contrib import admin

from scans.models import ScanRun


@admin.register(ScanRun)
class ScanRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "host",
        "status",
        "trigger",
        "requested_at",
        "finished_at",
        "score",
        "grade",
        "error_class",
    ]
    list_filter = ["status", "trigger", "error_class"]
    search_fields = ["host__name"]
    list_select_related = ["host"]
    raw_id_fields = ["host"]
    date_hierarchy = "requested_at"

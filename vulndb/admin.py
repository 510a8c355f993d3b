"""Imported data is read-only here: vulndb.importer is its one writer."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from posture.lib.admin import ReadOnlyAdmin
from vulndb.models import Advisory, AffectedPackage, DataImport, EpssScore, KevEntry


class ReadOnly(ReadOnlyAdmin):
    allow_delete = True  # an operator may drop data a bad import brought


class AffectedInline(admin.TabularInline):  # type: ignore[type-arg]
    model = AffectedPackage
    extra = 0
    can_delete = False
    readonly_fields = ["ecosystem", "name", "ranges", "versions", "fixed"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Advisory)
class AdvisoryAdmin(ReadOnly):
    list_display = ["id", "group", "severity", "modified", "source"]
    list_filter = ["severity", "source"]
    search_fields = ["id", "group"]
    inlines = [AffectedInline]


@admin.register(KevEntry)
class KevEntryAdmin(ReadOnly):
    list_display = ["cve", "vendor", "product", "date_added", "ransomware"]
    search_fields = ["cve", "vendor", "product"]


@admin.register(EpssScore)
class EpssScoreAdmin(ReadOnly):
    list_display = ["cve", "score", "percentile", "scored_on"]
    search_fields = ["cve"]


@admin.register(DataImport)
class DataImportAdmin(ReadOnly):
    list_display = ["imported_at", "kind", "label", "data_date", "added", "updated", "rejected"]
    list_filter = ["kind"]

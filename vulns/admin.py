"""Read-only admin of inventories and matches (written by the scans, never by hand);
decisions are made on the vulnerability page, and only revoked or corrected here."""

from __future__ import annotations

from django.contrib import admin

from posture.lib.admin import ReadOnlyAdmin
from vulns.models import ImageInventory, ImageVulnerability, Package, VulnDecision


@admin.register(ImageInventory)
class ImageInventoryAdmin(ReadOnlyAdmin):
    list_display = ("key", "image_name", "status", "mode", "source", "os_id", "package_count")
    list_filter = ("status", "mode", "source")
    search_fields = ("key", "image_name", "image_id")


@admin.register(Package)
class PackageAdmin(ReadOnlyAdmin):
    list_display = ("name", "version", "ecosystem", "source_name", "inventory")
    list_filter = ("ecosystem",)
    search_fields = ("name", "source_name", "purl")
    raw_id_fields = ("inventory",)


@admin.register(ImageVulnerability)
class ImageVulnerabilityAdmin(ReadOnlyAdmin):
    list_display = ("vuln", "advisory_id", "package_name", "installed_version", "severity", "kev")
    list_filter = ("kev", "severity", "source")
    search_fields = ("vuln", "advisory_id", "package_name")
    raw_id_fields = ("inventory",)


@admin.register(VulnDecision)
class VulnDecisionAdmin(admin.ModelAdmin):
    list_display = ("vuln", "state", "scope", "scope_value", "owner", "expires_at", "revoked_at")
    list_filter = ("state", "scope")
    search_fields = ("vuln", "scope_value", "owner", "reason")
    readonly_fields = ("created_by", "created_at")

"""The trail in Django's admin: listed and viewed, never added, changed or deleted."""

from __future__ import annotations

from auditlog.admin import LogEntryAdmin
from auditlog.models import LogEntry
from django.contrib import admin

from audit.models import AuditEvent
from posture.lib.admin import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor_name", "source", "address", "action", "target_type", "target_repr"]
    list_filter = ["source", "target_type"]
    search_fields = ["actor_name", "action", "target_id", "target_repr"]
    date_hierarchy = "at"
    actions = None


# auditlog's own admin allows deletion from other admin pages (its delete_related cascade,
# which Posture does not use): replaced by one that never does.
admin.site.unregister(LogEntry)


@admin.register(LogEntry)
class ChangeEntryAdmin(ReadOnlyAdmin, LogEntryAdmin):
    actions = None

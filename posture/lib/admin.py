"""Admin pages for records that have one writer elsewhere (the scan's store, the importer,
the approval flow, the audit trail): shown, never added, changed or deleted from the admin,
where a change would bypass that writer's checks."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    # Deletions stay where they are allowed (e.g. vulndb's data, rows under a deleted host)
    # when a subclass says so; by default nothing is removed from here either.
    allow_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.allow_delete and super().has_delete_permission(request, obj)

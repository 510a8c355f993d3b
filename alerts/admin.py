"""Admin: subscriptions are editable; regressions, events and notifications are a record."""

from __future__ import annotations

from django.contrib import admin

from alerts.models import Event, Notification, Regression, Subscription


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["user", "scope", "label_selector", "name_pattern", "min_severity", "delivery"]
    list_filter = ["scope", "delivery", "min_severity"]
    search_fields = ["user__username", "user__email", "label_selector", "name_pattern"]
    raw_id_fields = ["user", "host"]
    # Sealed secrets: nothing to read here, and a pasted value would bypass the form's sealing.
    exclude = ["target_enc", "signing_secret_enc"]


@admin.register(Regression)
class RegressionAdmin(admin.ModelAdmin):
    list_display = ["host", "kind", "key", "severity", "opened_at", "closed_at"]
    list_filter = ["kind", "severity"]
    search_fields = ["host__name", "key"]
    list_select_related = ["host"]
    raw_id_fields = ["host", "finding", "opened_scan", "closed_scan"]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["id", "regression", "phase", "created_at", "processed_at"]
    list_filter = ["phase"]
    raw_id_fields = ["regression"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["id", "to", "kind", "status", "held_reason", "created_at", "sent_at"]
    list_filter = ["status", "kind", "held_reason"]
    search_fields = ["to", "error"]
    raw_id_fields = ["user", "event", "digest"]
    readonly_fields = ["error"]

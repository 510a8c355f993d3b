from __future__ import annotations

from django.contrib import admin

from trends.models import ReportSubscription


@admin.register(ReportSubscription)
class ReportSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["user", "period", "team", "active", "last_sent_period", "last_sent_at"]
    list_filter = ["period", "active"]
    readonly_fields = ["last_sent_period", "last_sent_at"]

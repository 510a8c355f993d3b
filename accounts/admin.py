from __future__ import annotations

from django.contrib import admin

from accounts.models import Preference


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin):
    """A change made here reaches the user's pages at their next login: the session keeps
    a copy of the choice so that pages do not query it."""

    list_display = ["user", "language"]
    list_filter = ["language"]
    search_fields = ["user__username", "user__email"]
    autocomplete_fields = ["user"]

from __future__ import annotations

from django.contrib import admin

from accounts.models import Preference
from accounts.views import account as account_views


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin):
    """A change made here reaches the user's pages at their next login: the session keeps
    a copy of the choice so that pages do not query it."""

    list_display = ["user", "language"]
    list_filter = ["language"]
    search_fields = ["user__username", "user__email"]
    autocomplete_fields = ["user"]


# Django's admin has a login page of its own, which knows nothing of the second factor nor
# shows its field: an enrolled account could sign in there with its password alone. Ours
# serves /admin/login/ too (its ?next= brings the person back to the admin).
admin.site.login = account_views.login  # type: ignore[method-assign,assignment]

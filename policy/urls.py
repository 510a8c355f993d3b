from __future__ import annotations

from django.urls import path

from policy.views import exceptions, profiles

urlpatterns = [
    path("profiles/", profiles.profiles, name="profiles"),
    path("profiles/<int:pk>/delete", profiles.profile_delete, name="profile-delete"),
    path("exceptions/", exceptions.exception_list, name="exceptions"),
    path("exceptions/<int:pk>/revoke", exceptions.exception_revoke, name="exception-revoke"),
]

from __future__ import annotations

from django.urls import path

from policy.views import exceptions, profiles

urlpatterns = [
    path("profiles/", profiles.profiles, name="profiles"),
    path("profiles/<int:pk>/delete", profiles.profile_delete, name="profile-delete"),
    path("profiles/<int:pk>/approve", profiles.profile_approve, name="override-approve"),
    path("profiles/<int:pk>/reject", profiles.profile_reject, name="override-reject"),
    path("exceptions/", exceptions.exception_list, name="exceptions"),
    path("exceptions/preview", exceptions.exception_preview, name="exception-preview"),
    path("exceptions/<int:pk>/revoke", exceptions.exception_revoke, name="exception-revoke"),
    path("exceptions/<int:pk>/approve", exceptions.exception_approve, name="exception-approve"),
    path("exceptions/<int:pk>/reject", exceptions.exception_reject, name="exception-reject"),
]

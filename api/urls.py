"""/api/v1/: mounted by posture/urls.py. Every route is named `api-…`."""

from __future__ import annotations

from django.urls import include, path

from api import schema_views

urlpatterns = [
    path("schema/", schema_views.Schema.as_view(), name="api-schema"),
    path("docs/", schema_views.Docs.as_view(), name="api-docs"),
    path("", include("api.urls_data")),
    path("", include("api.urls_inventory")),
]

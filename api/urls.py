"""/api/v1/: mounted by posture/urls.py. Every route is named `api-…` (the access matrix
finds them by that prefix: tests/access/api_matrix.py)."""

from __future__ import annotations

from django.urls import include, path

from api import hosts, posture, rules, scans, schema_views

urlpatterns = [
    path("schema/", schema_views.Schema.as_view(), name="api-schema"),
    path("docs/", schema_views.Docs.as_view(), name="api-docs"),
    path("hosts/", hosts.HostList.as_view(), name="api-hosts"),
    path("hosts/<str:name>/", hosts.HostDetail.as_view(), name="api-host"),
    path("hosts/<str:name>/scans/", scans.HostScans.as_view(), name="api-host-scans"),
    path("hosts/<str:name>/posture/", posture.HostPostureView.as_view(), name="api-host-posture"),
    path("scans/<int:pk>/", scans.ScanDetail.as_view(), name="api-scan"),
    path("rules/", rules.RuleList.as_view(), name="api-rules"),
    path("rules/<str:rule_id>/", rules.RuleDetail.as_view(), name="api-rule"),
    path("", include("api.urls_data")),
    path("", include("api.urls_inventory")),
]

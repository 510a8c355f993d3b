from __future__ import annotations

from django.urls import path

from scans import views, views_export, views_rules, views_subjects

urlpatterns = [
    path("", views.fleet, name="fleet"),
    path("hosts/<str:name>/", views.host_detail, name="host-detail"),
    path("hosts/<str:name>/status", views.host_status, name="host-status"),
    path("hosts/<str:name>/scan", views.host_scan, name="host-scan"),
    path(
        "hosts/<str:name>/containers/<str:container_id>/",
        views_subjects.container_detail,
        name="container-detail",
    ),
    path("containers/", views_subjects.containers, name="containers"),
    path("images/<path:ref>/", views_subjects.image_detail, name="image-detail"),
    path("rules/", views_rules.rules, name="rules"),
    path("rules.json", views_rules.rules_json, name="rules-json"),
    path("rules/<str:rule_id>/", views_rules.rule_detail, name="rule-detail"),
    path("findings.csv", views_export.findings_csv, name="findings-csv"),
    path("findings.json", views_export.findings_json, name="findings-json"),
    path("findings.sarif", views_export.findings_sarif, name="findings-sarif"),
]

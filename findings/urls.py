from __future__ import annotations

from django.urls import path

from findings.views import export, rules, subjects

urlpatterns = [
    path(
        "hosts/<str:name>/containers/<str:container_id>/",
        subjects.container_detail,
        name="container-detail",
    ),
    path("containers/", subjects.containers, name="containers"),
    path("images/", subjects.images, name="images"),
    path("images/<path:ref>/", subjects.image_detail, name="image-detail"),
    path("rules/", rules.rules, name="rules"),
    path("rules.json", rules.rules_json, name="rules-json"),
    path("rules/<str:rule_id>/", rules.rule_detail, name="rule-detail"),
    path("findings.csv", export.findings_csv, name="findings-csv"),
    path("findings.json", export.findings_json, name="findings-json"),
    path("findings.sarif", export.findings_sarif, name="findings-sarif"),
]

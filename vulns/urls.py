from __future__ import annotations

from django.urls import path

from vulns.views import downloads, inventory, pages

urlpatterns = [
    path("vulnerabilities/", pages.vulnerabilities, name="vulnerabilities"),
    path("vulnerabilities.csv", downloads.vulnerabilities_csv, name="vulnerabilities-csv"),
    path("vulnerabilities.json", downloads.vulnerabilities_json, name="vulnerabilities-json"),
    path("vulnerabilities.sarif", downloads.vulnerabilities_sarif, name="vulnerabilities-sarif"),
    path("vulnerabilities/vex.openvex.json", downloads.decisions_openvex, name="vex-openvex"),
    path("vulnerabilities/vex.cdx.json", downloads.decisions_cyclonedx, name="vex-cyclonedx"),
    path("vulnerabilities/<str:vuln>/", pages.vulnerability, name="vulnerability"),
    path(
        "vulnerabilities/<str:vuln>/decisions/<int:pk>/revoke",
        pages.decision_revoke,
        name="decision-revoke",
    ),
    # Before findings' images/<path:ref>/ in posture/urls.py, which would take these too.
    path("images/inventory/panel/", inventory.inventory_panel, name="image-inventory-panel"),
    path("images/inventory/<str:key>/", inventory.inventory, name="image-inventory"),
    path(
        "images/inventory/<str:key>/cyclonedx.json",
        inventory.inventory_cyclonedx,
        name="image-inventory-cyclonedx",
    ),
]

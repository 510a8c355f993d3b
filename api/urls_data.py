"""API routes owned by api-data: findings, exceptions, vulnerabilities, trends, uploads,
SARIF. Read api/base.py's docstring first."""

from __future__ import annotations

from django.urls import path

from api.views_data import exceptions, findings, trends, vulns

urlpatterns = [
    path("findings/", findings.FindingList.as_view(), name="api-findings"),
    path("hosts/<str:name>/sarif/", findings.HostSarif.as_view(), name="api-host-sarif"),
    path("exceptions/", exceptions.ExceptionList.as_view(), name="api-exceptions"),
    path("exceptions/<int:pk>/", exceptions.ExceptionDetail.as_view(), name="api-exception"),
    path(
        "exceptions/<int:pk>/revoke/",
        exceptions.ExceptionRevoke.as_view(),
        name="api-exception-revoke",
    ),
    path("vulnerabilities/", vulns.FleetVulnerabilities.as_view(), name="api-vulnerabilities"),
    path(
        "hosts/<str:name>/vulnerabilities/",
        vulns.HostVulnerabilities.as_view(),
        name="api-host-vulnerabilities",
    ),
    path("hosts/<str:name>/images/", vulns.HostImages.as_view(), name="api-host-images"),
    path(
        "inventories/<str:key>/vulnerabilities/",
        vulns.InventoryVulnerabilities.as_view(),
        name="api-inventory-vulnerabilities",
    ),
    path("uploads/", vulns.Upload.as_view(), name="api-uploads"),
    path("trends/fleet/", trends.FleetTrend.as_view(), name="api-trends-fleet"),
    path("trends/teams/", trends.TeamTrends.as_view(), name="api-trends-teams"),
]

from __future__ import annotations

from django.urls import path

from scans import views

urlpatterns = [
    path("", views.fleet, name="fleet"),
    path("hosts/<str:name>/", views.host_detail, name="host-detail"),
    path("hosts/<str:name>/status", views.host_status, name="host-status"),
    path("hosts/<str:name>/scan", views.host_scan, name="host-scan"),
]

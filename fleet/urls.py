from __future__ import annotations

from django.urls import path

from fleet.views import host_forms, hostplan, hosts

urlpatterns = [
    path("", hosts.fleet, name="fleet"),
    path("hosts/new", host_forms.host_add, name="host-add"),
    path("hosts/<str:name>/", hosts.host_detail, name="host-detail"),
    path(
        "hosts/<str:name>/rules/<str:rule_id>/subjects",
        hostplan.rule_subjects,
        name="host-rule-subjects",
    ),
    path("hosts/<str:name>/status", hosts.host_status, name="host-status"),
    path("hosts/<str:name>/scan", hosts.host_scan, name="host-scan"),
    path("hosts/<str:name>/edit", host_forms.host_edit, name="host-edit"),
    path("hosts/<str:name>/delete", host_forms.host_delete, name="host-delete"),
]

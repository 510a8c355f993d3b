from __future__ import annotations

from django.urls import path

from hosts import views

urlpatterns = [
    path("hosts/new", views.host_add, name="host-add"),
    path("hosts/<str:name>/edit", views.host_edit, name="host-edit"),
    path("hosts/<str:name>/delete", views.host_delete, name="host-delete"),
]

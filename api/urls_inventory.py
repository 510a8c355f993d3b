"""API routes owned by inventory: host import and export. Read api/base.py's docstring
first."""

from __future__ import annotations

from django.urls import path

from api.views_inventory import Inventory

urlpatterns = [
    path("inventory/", Inventory.as_view(), name="api-inventory"),
]

from __future__ import annotations

from django.urls import path  # noqa: F401 - the pages land here (issue 11)

urlpatterns: list = []

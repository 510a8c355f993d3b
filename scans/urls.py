from __future__ import annotations

from django.urls import path

from scans import metrics

urlpatterns = [
    path("metrics", metrics.metrics, name="metrics"),
]

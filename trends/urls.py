from __future__ import annotations

from django.urls import path

from trends import views

urlpatterns = [
    path("trends/", views.trends, name="trends"),
    path("reports/", views.report, name="report"),
]

from __future__ import annotations

from django.urls import path

from exceptions import views

urlpatterns = [
    path("exceptions/", views.exception_list, name="exceptions"),
    path("exceptions/<int:pk>/revoke", views.exception_revoke, name="exception-revoke"),
]

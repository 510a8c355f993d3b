from __future__ import annotations

from django.urls import path

from alerts import views

urlpatterns = [
    path("alerts/", views.subscriptions, name="alerts"),
    path("alerts/<int:pk>/delete", views.subscription_delete, name="alert-delete"),
]

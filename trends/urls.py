from __future__ import annotations

from django.urls import path

from trends import views, views_subscriptions

urlpatterns = [
    path("trends/", views.trends, name="trends"),
    path("reports/", views.report, name="report"),
    path(
        "reports/subscriptions/",
        views_subscriptions.report_subscriptions,
        name="report-subscriptions",
    ),
    path(
        "reports/subscriptions/<int:pk>/toggle",
        views_subscriptions.report_subscription_toggle,
        name="report-subscription-toggle",
    ),
    path(
        "reports/subscriptions/<int:pk>/delete",
        views_subscriptions.report_subscription_delete,
        name="report-subscription-delete",
    ),
]

from __future__ import annotations

from django.urls import path

from trends import test_message
from trends.views import pages, subscriptions

urlpatterns = [
    path("trends/", pages.trends, name="trends"),
    path("reports/", pages.report, name="report"),
    path(
        "reports/subscriptions/",
        subscriptions.report_subscriptions,
        name="report-subscriptions",
    ),
    path(
        "reports/subscriptions/<int:pk>/toggle",
        subscriptions.report_subscription_toggle,
        name="report-subscription-toggle",
    ),
    path(
        "reports/subscriptions/<int:pk>/delete",
        subscriptions.report_subscription_delete,
        name="report-subscription-delete",
    ),
    # The account page's button; here because accounts may not import trends.
    path("account/test-report", test_message.send_test_report, name="report-test-message"),
]

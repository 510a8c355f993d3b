from __future__ import annotations

from django.urls import path

from alerts import test_message, views

urlpatterns = [
    path("alerts/", views.subscriptions, name="alerts"),
    path("alerts/form", views.form_fields, name="alert-form"),
    path("alerts/preview", views.form_preview, name="alert-preview"),
    path("alerts/<int:pk>/delete", views.subscription_delete, name="alert-delete"),
    path("alerts/<int:pk>/test", views.channel_test, name="alert-channel-test"),
    path("alerts/<int:pk>/edit", views.subscription_edit, name="alert-edit"),
    # The account page's button; here because accounts may not import alerts.
    path("account/test-alert", test_message.send_test_alert, name="alert-test-message"),
]

from __future__ import annotations

from django.urls import path

from accounts import views

urlpatterns = [
    path("account/language", views.language, name="language"),
]

"""The pages of the API: a person's tokens (/account/tokens/), an admin's service tokens."""

from __future__ import annotations

from django.urls import path

from api import pages

urlpatterns = [
    path("account/tokens/", pages.tokens, name="tokens"),
    path("account/tokens/<int:pk>/revoke", pages.token_revoke, name="token-revoke"),
    path("access/tokens/", pages.service_tokens, name="service-tokens"),
    path("access/tokens/<int:pk>/revoke", pages.service_token_revoke, name="service-token-revoke"),
]

"""The pages of the API: a person's tokens (/account/tokens/), an admin's service tokens."""

from __future__ import annotations

urlpatterns: list = []

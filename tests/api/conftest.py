from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import caches
from django.test import Client

from access.models import Team
from access.roles import Role
from api.tokens import issue


@pytest.fixture(autouse=True)
def _fresh_api_cache(settings: Any) -> None:
    """Each test its own rate-limit and token-use counters (a process-local cache: the
    shared one is for gunicorn's processes)."""
    settings.CACHES = {
        **settings.CACHES,
        "api": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "t"},
    }
    caches["api"].clear()


@pytest.fixture
def token_for() -> Callable[..., str]:
    """token_for(user, role=..., teams=[labels]) -> the raw `pst_…` string."""

    def make(user: Any, role: str = Role.ADMIN, teams: tuple[str, ...] = (), days: int = 90) -> str:
        rows = [Team.objects.get_or_create(label=t, defaults={"name": t})[0] for t in teams]
        return issue(creator=user, name="test", role=Role(role), teams=rows, days=days).secret

    return make


def bearer(raw: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.fixture
def api() -> Client:
    return Client(enforce_csrf_checks=True)

"""Per-token rate limit (POSTURE_API_RATE, e.g. "600/min"): 429 with Retry-After.

Counted in the "api" cache, which every gunicorn process shares (Redis when the broker is
Redis, else a file cache under the data directory): a per-process memory cache would
multiply the limit by the number of processes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import caches
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from api.models import ApiToken

if TYPE_CHECKING:
    from rest_framework.views import APIView


class TokenRateThrottle(SimpleRateThrottle):
    scope = "api"

    def __init__(self) -> None:
        # Looked up per request, not once at import: settings (and tests) choose the cache.
        self.cache = caches["api"]
        super().__init__()

    def get_rate(self) -> str:
        return str(settings.POSTURE_API["RATE"])

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if isinstance(request.auth, ApiToken):
            # The key, not the pk: a pk comes back after a rollback, the random key does not.
            return f"api:throttle:token:{request.auth.key}"
        if request.user and request.user.is_authenticated:
            # A browser session shares the same budget per account.
            return f"api:throttle:user:{request.user.pk}"
        return None  # anonymous calls are refused with 401 before any work

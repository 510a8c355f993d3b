"""Settings of the REST API (issue 13), read by posture/settings.py (which must stay under
500 lines). docs/ARCHITECTURE.md, "REST API (issue 13)", says why each is so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from posture.env import env, envint

POSTURE_API: dict[str, Any] = {
    # Calls per token (or per signed-in account) and period: N/sec, N/min, N/hour, N/day.
    "RATE": env("POSTURE_API_RATE", "600/min"),
    # Tokens expire after at most this many days (default 90 when created).
    "TOKEN_MAX_DAYS": envint("POSTURE_API_TOKEN_MAX_DAYS", 365, minimum=1),
    # GET /api/v1/scans/{id}/?wait=N waits at most this many seconds.
    "MAX_WAIT": envint("POSTURE_API_MAX_WAIT", 60, minimum=1),
}


# Rate-limit counters and token-use counts must be shared by every web process: Redis when
# the broker is Redis (docker-compose), else files under the data directory (the embedded
# mode runs on one machine). The default cache stays per process, as before.
def caches(data_dir: Path, broker_url: str) -> dict[str, dict[str, Any]]:
    api = (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": broker_url}
        if broker_url.startswith(("redis://", "rediss://"))
        else {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(data_dir / "cache" / "api"),
        }
    )
    return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}, "api": api}


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.BearerTokenAuthentication",
        "api.authentication.BrowserSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.base.DeclaredPolicy"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.TokenRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "api.base.CursorPage",
    "PAGE_SIZE": 50,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Posture API",
    "DESCRIPTION": "Security posture of a fleet of Docker hosts. Authenticate with "
    "`Authorization: Bearer pst_…` (tokens: /account/tokens/).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from drf-spectacular-sidecar's static files, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": False},
}

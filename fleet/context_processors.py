"""The header's fleet counters on every page, not only on the fleet page (issue 17)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from access.services import request_access
from fleet.queries import FleetCounts, fleet_counts


def _counts(request: HttpRequest) -> FleetCounts | None:
    if not request.user.is_authenticated:
        return None
    scope = request_access(request).scope
    seconds = settings.POSTURE_HEADER_COUNTS_SECONDS
    if seconds <= 0:
        return fleet_counts(scope)
    # Per scope: two accounts that see different teams never share counters. A few seconds
    # old is fine for a header that every page shows; the fleet page counts afresh.
    key = f"header-counts:{scope.key}"
    counts: FleetCounts | None = cache.get(key)
    if counts is None:
        counts = fleet_counts(scope)
        cache.set(key, counts, seconds)
    return counts


def header_counts(request: HttpRequest) -> dict[str, Any]:
    """`header_counts`, computed only if the page's header shows them (the fleet page
    shows its own, computed with its table)."""
    return {"header_counts": SimpleLazyObject(lambda: _counts(request))}

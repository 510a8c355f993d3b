"""Template filters for links to subject pages: only well-formed ids and references go into
a URL (anything else would be a 404, or a name no URL pattern can hold); the query string of
a page's Export links."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django import template
from django.urls import reverse

from findings import drilldown
from posture.lib import paging

register = template.Library()


@register.filter
def image_ref(value: object) -> str:
    """The image id or reference `value` is, ready for {% url 'image-detail' %}; else ""."""
    return drilldown.image_ref(value) or "" if isinstance(value, str) else ""


# Which of a page's own query parameters an Export link carries, and under which name
# findings.export.ExportFilters reads it: the fleet's search is over host names, a finding
# table's over hosts, subjects and evidence (?search=).
EXPORT_CARRIED: dict[str, dict[str, str]] = {
    "fleet": {"q": "q", "label": "label", "status": "status", "grade": "grade"},
    "findings": {"q": "search", "label": "label", "severity": "severity", "kind": "kind"},
}


@register.simple_tag(takes_context=True)
def export_query(
    context: template.Context, carry: str = "", extra: Any = None, **fixed: Any
) -> str:
    """The query string of the page's Export links: the filters the page shows now (read
    from the request, so an htmx swap of the filtered table carries the new ones, or given
    whole as `extra` by pages whose filters have other names) and what the page is about
    (`fixed`: its host, rule, container or image)."""
    request = context.get("request")
    params: dict[str, Any] = {}
    get = getattr(request, "GET", None)
    for source, target in EXPORT_CARRIED.get(carry, {}).items():
        values = [str(v) for v in get.getlist(source) if str(v).strip()] if get else []
        if values:
            params[target] = values
    if isinstance(extra, dict):
        params.update({key: value for key, value in extra.items() if value})
    params.update({key: str(value) for key, value in fixed.items() if value})
    return paging.query(params)


@register.simple_tag(takes_context=True)
def accept_url(context: template.Context, rule_id: str, host: str, kind: str, name: str) -> str:
    """The exception form prefilled for one failing subject: its rule, its host and, for a
    container or a tagged image, that one subject (its exact name as the pattern: names and
    references hold no glob characters), with the page to come back to."""
    params = {"rule_id": rule_id, "host": host}
    if kind == "container" and name:
        params["container_pattern"] = name.lstrip("/")
    elif kind == "image" and name and not name.startswith("sha256:"):
        # An untagged image is named by its short id, which no image pattern matches.
        params["image_pattern"] = name
    request = context.get("request")
    if request is not None:
        params["next"] = _page_path(request)
    return reverse("exceptions") + paging.query(params)


def _page_path(request: Any) -> str:
    """The page the reader is on: for an htmx fragment (a list loaded into the page), the
    page's own address htmx sends, not the fragment's. The exception form checks it is a
    path of this site before linking back to it."""
    htmx = getattr(request, "htmx", None)
    current = getattr(htmx, "current_url", None) if htmx else None
    if current:
        parts = urlsplit(str(current))
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return str(request.get_full_path())


@register.filter
def failing_only(subjects: Any) -> list[Any]:
    """The subjects (or finding rows) that count in the score: not accepted by an exception."""
    return [s for s in subjects or () if not getattr(s, "accepted", False)]


@register.filter
def accepted_only(subjects: Any) -> list[Any]:
    """The subjects a risk exception accepted, for an "Accepted risks (N)" fold."""
    return [s for s in subjects or () if getattr(s, "accepted", False)]

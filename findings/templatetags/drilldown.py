"""Template filters for links to subject pages: only well-formed ids and references go into
a URL (anything else would be a 404, or a name no URL pattern can hold)."""

from __future__ import annotations

from django import template

from findings import drilldown

register = template.Library()


@register.filter
def image_ref(value: object) -> str:
    """The image id or reference `value` is, ready for {% url 'image-detail' %}; else ""."""
    return drilldown.image_ref(value) or "" if isinstance(value, str) else ""

"""What the paged tables share (the fleet, and the findings of a rule, container or image):
their query strings and the links of a pager."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Page


def query(params: Mapping[str, Any]) -> str:
    """ "?a=1&label=x&label=y" from the non-empty parameters; "?" when none is left (a link
    that keeps the current path and drops every parameter)."""
    kept = {k: v for k, v in params.items() if v}
    return "?" + urlencode(kept, doseq=True) if kept else "?"


def page_links(page: Page[Any], page_url: Callable[[int], str]) -> dict[str, str]:
    """first / previous / next / last, each present only when it leads somewhere."""
    urls = {}
    if page.has_previous():
        urls["first"] = page_url(1)
        urls["previous"] = page_url(page.previous_page_number())
    if page.has_next():
        urls["next"] = page_url(page.next_page_number())
        urls["last"] = page_url(page.paginator.num_pages)
    return urls

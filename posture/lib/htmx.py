"""The htmx side of every page, in one place (NetBox's utilities/htmx.py, django-htmx's
example app): the typed request, which requests want only a fragment, and the answer that
stops a polling element."""

from __future__ import annotations

from django.http import HttpRequest
from django_htmx.http import HttpResponseStopPolling
from django_htmx.middleware import HtmxDetails

__all__ = ["HtmxHttpRequest", "HttpResponseStopPolling", "fragment_requested", "template_for"]


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def fragment_requested(request: HttpRequest) -> bool:
    """A plain hx-get wants only the swapped part. A boosted request wants the whole page,
    and so does htmx restoring a page missing from its history cache (it swaps the
    response into <body>)."""
    htmx: HtmxDetails | None = getattr(request, "htmx", None)
    return htmx is not None and bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def template_for(request: HttpRequest, template: str, fragment: str) -> str:
    """The page's template, or only its inline partial `fragment` for an htmx swap."""
    return f"{template}#{fragment}" if fragment_requested(request) else template

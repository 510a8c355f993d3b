"""The htmx side of every page, in one place (NetBox's utilities/htmx.py, django-htmx's
example app): the typed request, which requests want only a fragment, the render that
follows from it, and the answer that stops a polling element."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django_htmx.http import HttpResponseStopPolling
from django_htmx.middleware import HtmxDetails

__all__ = [
    "HtmxHttpRequest",
    "HttpResponseStopPolling",
    "form_status",
    "fragment_requested",
    "invalid_status",
    "render_page",
    "render_polled",
    "template_for",
]


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def fragment_requested(request: HttpRequest) -> bool:
    """A plain hx-get wants only the swapped part. A boosted request wants the whole page,
    and so does htmx restoring a page missing from its history cache (it swaps the
    response into <body>)."""
    htmx: HtmxDetails | None = getattr(request, "htmx", None)
    return htmx is not None and bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def invalid_status(request: HttpRequest) -> int:
    """The status of a refused form answered with its errors: 422 to htmx, which swaps it in
    place only because base.html's htmx-config says so (htmx 2 swaps no 4xx by default);
    200 to a plain POST, whose page the browser shows whatever the status. One rule for
    every form, so that none looks like a button that does nothing."""
    return 422 if getattr(request, "htmx", False) else 200


def form_status(request: HttpRequest, form: Any) -> int:
    """The status of a page that shows `form`: 200 for a blank one, invalid_status for a
    submission of it answered again (refused)."""
    return invalid_status(request) if form.is_bound else 200


def template_for(request: HttpRequest, template: str, fragment: str) -> str:
    """The page's template, or only its inline partial `fragment` for an htmx swap."""
    return f"{template}#{fragment}" if fragment_requested(request) else template


def render_page(
    request: HttpRequest,
    template: str,
    fragment: str,
    context: dict[str, Any],
    status: int = 200,
) -> HttpResponse:
    """The page, or only its inline partial `fragment` for an htmx swap. The template reads
    which in `htmx_fragment`, not in request.htmx: what only a swapped fragment carries (an
    out-of-band counter, the panel's own messages) must not be doubled in a whole page
    answered to a boosted or history-restore request."""
    wanted = fragment_requested(request)
    name = f"{template}#{fragment}" if wanted else template
    return render(request, name, {**context, "htmx_fragment": wanted}, status=status)


def render_polled(
    request: HttpRequest, template: str, context: dict[str, Any], *, done: bool
) -> HttpResponse:
    """A fragment an element polls (hx-trigger="every 2s"). Once `done`, the answer is
    django-htmx's HttpResponseStopPolling (286): htmx still swaps the final state in, then
    stops polling."""
    content = render_to_string(template, context, request)
    return HttpResponseStopPolling(content) if done else HttpResponse(content)

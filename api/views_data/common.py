"""What the data views share: a host looked up in the caller's scope, and cursor pages over
lists that are built in Python rather than read as a queryset."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.shortcuts import get_object_or_404
from rest_framework.pagination import Cursor
from rest_framework.request import Request
from rest_framework.utils.urls import remove_query_param

from api.base import CursorPage, scoped
from hosts.models import Host


def host_named(request: Request, name: str) -> Host:
    """The host of that name among the caller's: 404 outside its scope, as for the pages,
    so that another team's host names cannot be probed."""
    return get_object_or_404(scoped(request, Host.objects.all()), name=name)


class ListCursorPage(CursorPage):
    """CursorPage's parameters and answer ({"next", "previous", "results"}, ?limit=) over a
    list already in its final order (the fleet's vulnerabilities by urgency, a host's
    images): the figures behind it are computed whole, in a fixed number of statements, so
    the cursor only remembers where the page starts."""

    # CursorPagination caps offsets at 1,000 because it expects them only among equal
    # ordering keys; here the offset is the position itself.
    offset_cutoff = 2**31

    def paginate_queryset(  # type: ignore[override]
        self, queryset: Sequence[Any], request: Request, view: Any = None
    ) -> list[Any]:
        self.request = request
        self.base_url = request.build_absolute_uri()
        self.page_size = self.get_page_size(request)
        cursor = self.decode_cursor(request)
        self.start = cursor.offset if cursor is not None else 0
        self.total = len(queryset)
        self.page = list(queryset[self.start : self.start + self.page_size])
        return self.page

    def get_next_link(self) -> str | None:
        if self.start + self.page_size >= self.total:
            return None
        return self.encode_cursor(
            Cursor(offset=self.start + self.page_size, reverse=False, position=None)
        )

    def get_previous_link(self) -> str | None:
        if self.start <= 0:
            return None
        start = max(0, self.start - self.page_size)
        if start == 0:
            return remove_query_param(self.base_url, self.cursor_query_param)
        return self.encode_cursor(Cursor(offset=start, reverse=False, position=None))

"""The audit page (admins): the merged trail with filters and keyset paging, and its JSON
Lines export. Thin: audit.filters reads the query, audit.trail does the rest."""

from __future__ import annotations

import json
from collections.abc import Iterator

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone

from access.policy import allow
from access.roles import Perm
from audit import trail
from audit.filters import TrailFilters
from audit.services import record
from posture.lib.htmx import render_page


@allow(Perm.AUDIT)
def audit_page(request: HttpRequest) -> HttpResponse:
    filters = TrailFilters.from_query(request.GET)
    current = trail.page(filters)
    context = {
        "filters": filters,
        "rows": current.rows,
        "next_url": filters.query_string(before=str(current.next_cursor))
        if current.next_cursor
        else "",
        "first_url": filters.query_string(before="") if filters.before else "",
        "export_query": filters.query_string(before=""),
    }
    return render_page(request, "audit/trail.html", "trail", context)


@allow(Perm.AUDIT)
def audit_export(request: HttpRequest) -> StreamingHttpResponse:
    filters = TrailFilters.from_query(request.GET)
    record(
        "export.downloaded",
        request=request,
        details={"what": "audit.jsonl", "filters": filters.as_details()},
    )
    response = StreamingHttpResponse(_lines(filters), content_type="application/x-ndjson")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="posture-audit-{stamp}.jsonl"'
    return response


def _lines(filters: TrailFilters) -> Iterator[str]:
    for row in trail.every_row(filters):
        yield json.dumps(row.as_json(), ensure_ascii=False, default=str) + "\n"

"""Downloads of the fleet's open findings: /findings.csv, /findings.json, /findings.sarif.

All three take the fleet page's filters (?q=&label=&status=&grade=) plus ?rule= and
?severity=, and read findings in one statement with the host's name joined in. CSV streams;
JSON and SARIF are built whole, so they stop at EXPORT_LIMIT findings and say so. Each holds
the hosts of the account's scope only, and each download is in the audit trail with its
filters (export.downloaded).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from access.policy import allow
from access.roles import Perm
from access.services import request_access
from audit.services import record
from findings import export, sarif
from findings.models import Finding
from posture.lib.htmx import HtmxHttpRequest

# GitHub code scanning takes at most 25,000 results per run.
EXPORT_LIMIT = 25_000


class _Echo:
    """csv.writer wants a file; this one hands each line back for streaming."""

    def write(self, value: str) -> str:
        return value


def _filename(ext: str) -> str:
    return f"posture-findings-{timezone.now():%Y%m%d-%H%M%S}.{ext}"


def _attachment(response: HttpResponse | StreamingHttpResponse, ext: str) -> None:
    response["Content-Disposition"] = f'attachment; filename="{_filename(ext)}"'
    response["X-Content-Type-Options"] = "nosniff"


def _filters(request: HtmxHttpRequest, what: str) -> export.ExportFilters:
    """The download's filters, recorded in the audit trail as the download is answered."""
    filters = export.ExportFilters.from_query(request.GET)
    asked = {k: v for k, v in filters.params().items() if v and k != "sort"}
    record("export.downloaded", request=request, details={"what": what, "filters": asked})
    return filters


def _open_findings(
    request: HtmxHttpRequest, filters: export.ExportFilters
) -> QuerySet[Finding, dict[str, Any]]:
    """The rows of the findings the account may download: its hosts only, whatever the
    filters ask."""
    return export.finding_rows(export.open_findings(filters, request_access(request).scope))


def _limited(
    request: HtmxHttpRequest, filters: export.ExportFilters
) -> tuple[list[dict[str, Any]], bool]:
    rows = list(_open_findings(request, filters)[: EXPORT_LIMIT + 1])
    return rows[:EXPORT_LIMIT], len(rows) > EXPORT_LIMIT


def _json_bytes(data: Any) -> bytes:
    # Names come from the daemons: besides JSON's own escaping, keep <, > and & out of the
    # bytes so no browser sniffing the download can find markup in it.
    text = json.dumps(data, indent=2, ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text.encode()


@allow(Perm.EXPORT)
@require_GET
def findings_csv(request: HtmxHttpRequest) -> StreamingHttpResponse:
    filters = _filters(request, "findings.csv")
    rows = _open_findings(request, filters).iterator(chunk_size=2000)
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        for cells in export.csv_rows(rows):
            yield writer.writerow(cells)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    _attachment(response, "csv")
    return response


@allow(Perm.EXPORT)
@require_GET
def findings_json(request: HtmxHttpRequest) -> HttpResponse:
    filters = _filters(request, "findings.json")
    rows, truncated = _limited(request, filters)
    data = {
        "generated_at": timezone.now().isoformat(),
        "truncated": truncated,
        "findings": [export.finding_data(row) for row in rows],
    }
    response = HttpResponse(_json_bytes(data), content_type="application/json")
    _attachment(response, "json")
    return response


@allow(Perm.EXPORT)
@require_GET
def findings_sarif(request: HtmxHttpRequest) -> HttpResponse:
    filters = _filters(request, "findings.sarif")
    rows, truncated = _limited(request, filters)
    log = sarif.sarif_log(rows, truncated=truncated)
    response = HttpResponse(_json_bytes(log), content_type="application/sarif+json")
    _attachment(response, "sarif")
    return response

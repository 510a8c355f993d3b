"""Downloads: the fleet's vulnerabilities with the page's filters (/vulnerabilities.csv,
.json, .sarif) and the triage decisions in force as OpenVEX and CycloneDX VEX.

The house conventions of findings.views.export: attachment names with the time, nosniff,
JSON without raw <, > or & (names come from images), CSV streamed with formula guards.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from access.policy import allow
from access.roles import Perm
from access.services import request_access
from audit.services import record
from posture.lib.htmx import HtmxHttpRequest
from vulns import exports, queries, vex


class _Echo:
    """csv.writer wants a file; this one hands each line back for streaming."""

    def write(self, value: str) -> str:
        return value


def attachment(response: HttpResponse | StreamingHttpResponse, filename: str) -> None:
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"


def _stamped(stem: str, ext: str) -> str:
    return f"posture-{stem}-{timezone.now():%Y%m%d-%H%M%S}.{ext}"


def json_bytes(data: Any) -> bytes:
    text = json.dumps(data, indent=2, ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text.encode()


def downloaded(request: HtmxHttpRequest, what: str, **details: Any) -> None:
    """Every download is in the audit trail: what left, with which filters, for whom."""
    record("export.downloaded", request=request, details={"what": what, **details})


def _rows(request: HtmxHttpRequest, what: str) -> tuple[list[exports.VulnRow], bool]:
    filters = queries.VulnFilters.from_query(request.GET)
    downloaded(request, what, filters=filters.params())
    return exports.vulnerability_rows(filters, scope=request_access(request).scope)


@allow(Perm.EXPORT)
@require_GET
def vulnerabilities_csv(request: HtmxHttpRequest) -> StreamingHttpResponse:
    rows, _truncated = _rows(request, "vulnerabilities.csv")
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        for cells in exports.csv_rows(rows):
            yield writer.writerow(cells)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    attachment(response, _stamped("vulnerabilities", "csv"))
    return response


@allow(Perm.EXPORT)
@require_GET
def vulnerabilities_json(request: HtmxHttpRequest) -> HttpResponse:
    rows, truncated = _rows(request, "vulnerabilities.json")
    body = json_bytes(exports.json_data(rows, truncated))
    response = HttpResponse(body, content_type="application/json")
    attachment(response, _stamped("vulnerabilities", "json"))
    return response


@allow(Perm.EXPORT)
@require_GET
def vulnerabilities_sarif(request: HtmxHttpRequest) -> HttpResponse:
    rows, truncated = _rows(request, "vulnerabilities.sarif")
    body = json_bytes(exports.sarif_log(rows, truncated=truncated))
    response = HttpResponse(body, content_type="application/sarif+json")
    attachment(response, _stamped("vulnerabilities", "sarif"))
    return response


@allow(Perm.EXPORT)
@require_GET
def decisions_openvex(request: HtmxHttpRequest) -> HttpResponse:
    author = request.user.get_username() or "Posture"
    downloaded(request, "vex.openvex.json")
    decisions = vex.decisions_in_force(scope=request_access(request).scope)
    document = vex.openvex(decisions, author=author)
    response = HttpResponse(json_bytes(document), content_type="application/json")
    attachment(response, _stamped("vex", "openvex.json"))
    return response


@allow(Perm.EXPORT)
@require_GET
def decisions_cyclonedx(request: HtmxHttpRequest) -> HttpResponse:
    downloaded(request, "vex.cdx.json")
    body = vex.cyclonedx_vex(vex.decisions_in_force(scope=request_access(request).scope))
    response = HttpResponse(body, content_type="application/vnd.cyclonedx+json")
    attachment(response, _stamped("vex", "cdx.json"))
    return response

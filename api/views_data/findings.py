"""GET /api/v1/findings/: the open findings of the fleet in scope, filtered as the fleet
page and the findings downloads filter (findings.export.ExportFilters); GET
/api/v1/hosts/{name}/sarif/: a host's open findings as SARIF 2.1.0 (findings.sarif), as
`manage.py scan --format sarif` writes them, for code-scanning uploads from CI."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.policy import allow
from access.roles import Perm
from api.base import ApiMixin
from api.serializers_data import FindingSerializer
from api.views_data.common import host_named
from audit.services import record
from findings import export, sarif
from findings.models import Finding

# GitHub code scanning takes at most 25,000 results per run (as the findings downloads):
# the most severe first, and the run says it was cut.
SARIF_LIMIT = 25_000

_FILTERS = [
    OpenApiParameter("q", str, description="host name or endpoint contains"),
    OpenApiParameter("label", str, many=True, description="key=value, or key (repeatable)"),
    OpenApiParameter("status", str, enum=["ok", "failing", "error", "stale", "never", "scanning"]),
    OpenApiParameter("grade", str, enum=["A", "B", "C", "D", "E", "F"]),
    OpenApiParameter("rule", str, description="a rule id"),
    OpenApiParameter(
        "severity",
        str,
        many=True,
        enum=["critical", "high", "medium", "low", "info"],
        description="exact severities (repeatable)",
    ),
    OpenApiParameter("host", str, description="one host by name"),
    OpenApiParameter("container", str, description="a container id"),
    OpenApiParameter("name", str, description="containers of this name"),
    OpenApiParameter("image", str, description="an image id or reference"),
    OpenApiParameter("kind", str, enum=["daemon", "container", "image"]),
    OpenApiParameter("search", str, description="host, subject or evidence contains"),
    OpenApiParameter("state", str, enum=["failing", "accepted"]),
]


@allow(Perm.VIEW)
@extend_schema_view(get=extend_schema(tags=["findings"], parameters=_FILTERS))
class FindingList(ApiMixin, generics.ListAPIView[Any]):
    """Open findings across the fleet, newest first; accepted ones are listed, marked."""

    serializer_class = FindingSerializer
    cursor_ordering = ("-id",)

    def get_queryset(self) -> QuerySet[Finding, dict[str, Any]]:
        filters = export.ExportFilters.from_query(self.request.query_params)
        findings = export.open_findings(filters, self.access.scope)
        return findings.values(*export.FINDING_FIELDS, "id")


class SarifRenderer(JSONRenderer):
    media_type = "application/sarif+json"
    format = "sarif"


@allow(Perm.EXPORT)
class HostSarif(ApiMixin, APIView):
    renderer_classes = [SarifRenderer, JSONRenderer]

    @extend_schema(
        tags=["findings"],
        responses={(200, "application/sarif+json"): OpenApiTypes.OBJECT},
        description="The host's open findings as one SARIF 2.1.0 run (accepted ones as "
        "suppressions), for GitHub code scanning and other SARIF readers. Audited as an "
        "export.",
    )
    def get(self, request: Request, name: str) -> Response:
        host = host_named(request, name)
        rows = Finding.objects.open().for_host(host)
        rows = rows.order_by("-severity", "rule_id", "subject_name", "pk")
        found = list(rows.values(*export.FINDING_FIELDS)[: SARIF_LIMIT + 1])
        truncated = len(found) > SARIF_LIMIT
        log = sarif.sarif_log(found[:SARIF_LIMIT], truncated=truncated, host=host.name)
        record(
            "export.downloaded",
            request=request,  # type: ignore[arg-type]
            target=host,
            details={"what": "api.host.sarif", "results": len(log["runs"][0]["results"])},
        )
        return Response(log)

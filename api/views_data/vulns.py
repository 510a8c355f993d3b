"""Image vulnerabilities: the fleet's (GET /api/v1/vulnerabilities/, grouped by
vulnerability and filtered as the vulnerabilities page), a host's (its current images and
their open vulnerabilities, as `manage.py scan`'s gates read them: vulns.report), an image
inventory's matches; and the Trivy JSON / CycloneDX upload (vulns.ingest, as `manage.py
vulns ingest`)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.policy import allow
from access.roles import Perm
from api.base import ApiMixin
from api.serializers_data import (
    HostImageSerializer,
    HostVulnerabilitySerializer,
    InventoryVulnerabilitySerializer,
    UploadReportSerializer,
    VulnerabilityGroupSerializer,
)
from api.views_data.common import ListCursorPage, host_named
from audit.services import record
from hosts.models import Host
from vulndb.records import VulnSeverity
from vulns import inventories, places, queries, report
from vulns.ingest import MAX_DOCUMENT_BYTES, IngestError, ingest
from vulns.models import ImageInventory, ImageVulnerability
from vulns.signals import notify, vulnerabilities_changed

SEVERITY = OpenApiParameter(
    "severity",
    str,
    enum=[s.label for s in queries.SEVERITIES],
    description="this severity or above",
)
KEV = OpenApiParameter("kev", str, enum=["1"], description="known-exploited (CISA KEV) only")


@allow(Perm.VIEW)
@extend_schema_view(
    get=extend_schema(
        tags=["vulnerabilities"],
        parameters=[
            OpenApiParameter("q", str, description="id, alias or package contains"),
            SEVERITY,
            OpenApiParameter("fix", str, enum=["1"], description="a fixed version exists"),
            KEV,
            OpenApiParameter("label", str, many=True, description="key=value (repeatable)"),
            OpenApiParameter("ecosystem", str),
            OpenApiParameter("package", str),
            OpenApiParameter("image", str, description="an image repository"),
            OpenApiParameter("host", str, description="a host's name"),
            OpenApiParameter("triaged", str, enum=["1"], description="include triaged places"),
        ],
    )
)
class FleetVulnerabilities(ApiMixin, generics.ListAPIView[Any]):
    """Vulnerabilities on the current images of the hosts in scope, most urgent first
    (known-exploited, then fixable critical and high, then EPSS, then severity)."""

    serializer_class = VulnerabilityGroupSerializer
    pagination_class = ListCursorPage

    def get_queryset(self) -> list[queries.VulnGroup]:  # type: ignore[override]
        filters = queries.VulnFilters.from_query(self.request.query_params)
        groups, _hidden = queries.vulnerability_groups(filters, scope=self.access.scope)
        return groups


@allow(Perm.VIEW)
@extend_schema_view(get=extend_schema(tags=["vulnerabilities"], parameters=[SEVERITY, KEV]))
class HostVulnerabilities(ApiMixin, generics.ListAPIView[Any]):
    """Open (untriaged) vulnerabilities of the host's current images, one row per image,
    most urgent first: what `manage.py scan --fail-on-vuln / --fail-on-kev` count."""

    serializer_class = HostVulnerabilitySerializer
    pagination_class = ListCursorPage

    def get_queryset(self) -> list[dict[str, Any]]:  # type: ignore[override]
        host = host_named(self.request, self.kwargs["name"])
        filters = queries.VulnFilters.from_query(self.request.query_params)
        found = report.host_vulnerabilities(host)
        if filters.severity:
            # Labels, as vulns.report gives them; "unknown" ranks below every threshold.
            order = [s.label for s in VulnSeverity]
            least = order.index(filters.severity)
            found = [v for v in found if order.index(v["severity"]) >= least]
        if filters.kev:
            found = [v for v in found if v["kev"]]
        return found


@allow(Perm.VIEW)
@extend_schema_view(get=extend_schema(tags=["vulnerabilities"]))
class HostImages(ApiMixin, generics.ListAPIView[Any]):
    """The host's current images: whether each was assessed, and why not."""

    serializer_class = HostImageSerializer
    pagination_class = ListCursorPage

    def get_queryset(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return report.host_images(host_named(self.request, self.kwargs["name"]))


@allow(Perm.VIEW)
@extend_schema_view(get=extend_schema(tags=["vulnerabilities"]))
class InventoryVulnerabilities(ApiMixin, generics.ListAPIView[Any]):
    """Every vulnerability matched in one image inventory (its layers key), triaged or not,
    as its page lists them. 404 when no host in scope runs it."""

    serializer_class = InventoryVulnerabilitySerializer
    cursor_ordering = ("id",)

    def get_queryset(self) -> QuerySet[ImageVulnerability]:
        inventory = get_object_or_404(ImageInventory, key=self.kwargs["key"])
        if not places.inventory_in_scope(inventory, self.access.scope):
            raise exceptions.NotFound(_("Not found."))
        return inventory.vulnerabilities.all()


class TooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def read_document(request: Request) -> bytes:
    """The request body, refused past the ingest cap before it is read whole."""
    too_large = TooLarge(
        _("The document is larger than %(mb)d MB.") % {"mb": MAX_DOCUMENT_BYTES // 2**20}
    )
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_DOCUMENT_BYTES:
        raise too_large
    # Read from the stream: request.body would stop at DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB),
    # far below what a Trivy report of a big image is. No body: no stream.
    raw = request.stream.read(MAX_DOCUMENT_BYTES + 1) if request.stream is not None else b""
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise too_large
    if not raw:
        raise exceptions.ParseError(_("Send the Trivy JSON report or CycloneDX document."))
    return raw


@allow(Perm.TRIAGE)
class Upload(ApiMixin, APIView):
    # The body is read raw (read_document): no DRF parser touches it.
    parser_classes: list[Any] = []

    @extend_schema(
        tags=["vulnerabilities"],
        request={"application/json": OpenApiTypes.OBJECT},
        responses={201: UploadReportSerializer},
        description="A Trivy JSON report (schema 2) or a CycloneDX SBOM/VEX document, as the "
        "request body (at most 64 MB), merged into the inventory of the fleet's image it "
        "describes; the hosts running that image are rescanned. 400 with the reason when "
        "the document cannot be used or matches no image of the caller's hosts.",
    )
    def post(self, request: Request) -> Response:
        raw = read_document(request)
        scope = self.access.scope
        try:
            with transaction.atomic():
                found = ingest(raw)
                inventory = ImageInventory.objects.get(key=found.inventory_key)
                # Matched fleet-wide by content; an account of some teams may only feed the
                # images its own hosts run: anything else is undone, unseen.
                if not places.inventory_in_scope(inventory, scope):
                    raise IngestError(_("No image on your hosts matches this document."))
        except IngestError as exc:
            raise exceptions.ParseError(str(exc)) from None
        hosts = Host.objects.filter(pk__in=inventories.hosts_running([found.inventory_key]))
        notify(vulnerabilities_changed, hosts.order_by("name"), sender=Host)
        record(
            "vulns.ingested",
            request=request,  # type: ignore[arg-type]
            target=inventory,
            details={
                "kind": found.kind,
                "image": found.image,
                "added": found.added,
                "duplicates": found.duplicates,
                "packages": found.packages,
            },
        )
        data = UploadReportSerializer(found).data
        return Response(data, status=status.HTTP_201_CREATED)

"""/api/v1/hosts/{name}/scans/ (request a scan) and /api/v1/scans/{id}/ (its state, or
?wait=N for its end): what a CI job polls before it gates on the host's posture."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.objects import check_host
from access.policy import allow
from access.roles import Perm
from access.services import request_access
from api.base import ApiMixin
from audit.services import record
from findings.selection import hosts_in
from scans.models import ScanRun
from scans.services import request_scan
from scans.transports.errors import ErrorClass

# How often a waiting request reads the scan's row again: one indexed read, so a CI job
# learns the end within half a second without the database feeling the wait.
POLL_SECONDS = 0.5


def scan_url(scan: ScanRun) -> str:
    return f"/api/v1/scans/{scan.pk}/"


class ScanErrorSerializer(serializers.Serializer[Any]):
    # "class" is a Python keyword: declared below.
    message = serializers.CharField()
    detail = serializers.CharField(help_text="Empty unless the caller may edit the host.")


ScanErrorSerializer._declared_fields["class"] = serializers.CharField()


class ScanSerializer(serializers.Serializer[ScanRun]):
    id = serializers.IntegerField()
    host = serializers.CharField(source="host.name")
    status = serializers.ChoiceField(ScanRun.Status.values)
    trigger = serializers.CharField()
    requested_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    score = serializers.IntegerField(allow_null=True)
    grade = serializers.CharField()
    error = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    @extend_schema_field(ScanErrorSerializer(allow_null=True))
    def get_error(self, scan: ScanRun) -> dict[str, str] | None:
        """The failure's class and, for who may edit the host, the daemon's own words (as in
        the alert mails: the detail can name addresses and paths of the host)."""
        if not scan.error_class:
            return None
        try:
            label = ErrorClass(scan.error_class).label
        except ValueError:
            label = scan.error_class
        access = self.context["access"]
        detail = scan.error_detail if access.can_on(Perm.HOST_EDIT, scan.host.labels) else ""
        return {"class": scan.error_class, "message": label, "detail": detail[:2000]}

    def get_url(self, scan: ScanRun) -> str:
        return scan_url(scan)


def _context(request: Request) -> dict[str, Any]:
    return {"access": request_access(request)}


@extend_schema(tags=["scans"], request=None, responses={202: ScanSerializer})
@allow(Perm.VIEW, write=Perm.HOST_SCAN)
class HostScans(ApiMixin, APIView):
    """Queue a scan of the host (or answer the one already queued or running): 202 with the
    scan's id, status and URL to poll."""

    def post(self, request: Request, name: str) -> Response:
        host = get_object_or_404(hosts_in(self.access.scope), name=name)
        check_host(request, host.labels, Perm.HOST_SCAN)
        scan, created = request_scan(host, trigger=ScanRun.Trigger.MANUAL)
        record("scan.requested", request=request, target=host, details={"queued": created})
        body = ScanSerializer(scan, context=_context(request)).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": scan_url(scan)})


@extend_schema(
    tags=["scans"],
    parameters=[
        OpenApiParameter(
            "wait",
            OpenApiTypes.INT,
            description="Seconds to wait for the scan to end (capped by POSTURE_API_MAX_WAIT).",
        )
    ],
    responses={200: ScanSerializer},
)
@allow(Perm.VIEW)
class ScanDetail(ApiMixin, APIView):
    def get(self, request: Request, pk: int) -> Response:
        scans = ScanRun.objects.select_related("host").filter(host__in=hosts_in(self.access.scope))
        scan = get_object_or_404(scans, pk=pk)
        deadline = time.monotonic() + _wait(request)
        while scan.status in ScanRun.ACTIVE and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            scan.refresh_from_db()
        return Response(ScanSerializer(scan, context=_context(request)).data)


def _wait(request: Request) -> float:
    try:
        wanted = float(request.query_params.get("wait", "0"))
    except ValueError:
        raise serializers.ValidationError({"wait": ["A number of seconds."]}) from None
    return max(0.0, min(wanted, float(settings.POSTURE_API["MAX_WAIT"])))

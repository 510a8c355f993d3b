"""/api/v1/hosts/: list (filters as the fleet page), read, add, change, delete.

Writes go through hosts.forms.HostForm, the form a person fills in: the same endpoint
parsing, target policy, team rules, unix:// permission, and "a moved host needs its keys
again". Keys are write-only: accepted in a request, sealed by the form, never answered
(has_* booleans say whether one is stored).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.db import transaction
from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from access.objects import check_host
from access.policy import allow
from access.roles import Perm
from api.base import ApiMixin, raise_form_errors
from audit.services import diff, record
from findings.selection import FleetFilters, filtered, hosts_in
from hosts.forms import SECRET_FIELDS, HostForm, audited, format_labels
from hosts.models import Host, default_interval
from scans.models import ScanRun
from scans.services import request_scan
from scans.status import host_status, posture_of

# The page form's fields, labels aside (the API takes them as a mapping, not as text):
# one list, so a field added to the form is editable through the API too.
EDITABLE = tuple(name for name in HostForm.Meta.fields if name != "labels")
REMOVALS = ("remove_tls_client_key", "remove_ssh_private_key")


class HostSerializer(serializers.ModelSerializer[Host]):
    """A host as answered: never a key, only whether one is stored."""

    labels = serializers.DictField(child=serializers.CharField())
    # Whether a key is stored, from with_status()'s annotations: the sealed keys themselves
    # are never loaded to answer.
    has_tls_client_key = serializers.BooleanField(source="stored_tls_key", read_only=True)
    has_ssh_private_key = serializers.BooleanField(source="stored_ssh_key", read_only=True)
    has_ssh_access_key = serializers.BooleanField(source="stored_access_key", read_only=True)
    status = serializers.SerializerMethodField()
    score = serializers.SerializerMethodField()
    grade = serializers.SerializerMethodField()
    assessed_at = serializers.SerializerMethodField()

    class Meta:
        model = Host
        fields = (
            *EDITABLE[:2],
            "labels",
            *EDITABLE[2:],
            "has_tls_client_key",
            "has_ssh_private_key",
            "has_ssh_access_key",
            "status",
            "score",
            "grade",
            "assessed_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_status(self, host: Host) -> str:
        """scanning | never | error | stale | ok, as the fleet page's status column."""
        active = getattr(host, "scan_active", None)
        if active is None:
            active = ScanRun.objects.active().filter(host=host).exists()
        return host_status(host, posture_of(host), bool(active)).state

    def get_score(self, host: Host) -> int | None:
        posture = posture_of(host)
        return posture.score if posture else None

    def get_grade(self, host: Host) -> str:
        posture = posture_of(host)
        return posture.grade if posture else ""

    def get_assessed_at(self, host: Host) -> Any:
        posture = posture_of(host)
        value = posture.last_success_at if posture else None
        return value.isoformat() if value else None


class HostWriteSerializer(serializers.Serializer[Any]):
    """What a client may send; HostForm then checks it as it checks the page's form."""

    name = serializers.CharField(max_length=100)
    endpoint = serializers.CharField(max_length=500)
    labels = serializers.DictField(child=serializers.CharField(), required=False)
    owner_email = serializers.CharField(required=False, allow_blank=True)
    scan_interval = serializers.IntegerField(required=False)
    enabled = serializers.BooleanField(required=False)
    image_scan = serializers.ChoiceField(["", "off", "os", "deep"], required=False)
    tls_ca_cert = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    tls_client_cert = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    ssh_host_key = serializers.CharField(required=False, allow_blank=True)
    ssh_access = serializers.CharField(required=False, allow_blank=True)
    ssh_access_host_key = serializers.CharField(required=False, allow_blank=True)
    tls_client_key = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False
    )
    ssh_private_key = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False
    )
    ssh_access_key = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False
    )
    remove_tls_client_key = serializers.BooleanField(write_only=True, required=False)
    remove_ssh_private_key = serializers.BooleanField(write_only=True, required=False)


def form_data(sent: dict[str, Any], host: Host | None) -> dict[str, Any]:
    """The HostForm submission for `sent` over the host's current values (PUT and PATCH
    both change only what they send; a key not sent is kept, as a blank key field is)."""
    if host is None:
        data: dict[str, Any] = {"enabled": True, "scan_interval": default_interval()}
    else:
        data = {name: getattr(host, name) for name in EDITABLE}
        data["labels"] = format_labels(host.labels)
    for name, value in sent.items():
        data[name] = format_labels(value) if name == "labels" else value
    return data


def _stored(field: str) -> ExpressionWrapper:
    return ExpressionWrapper(~Q(**{field: ""}), output_field=BooleanField())


def with_status(hosts: QuerySet[Host]) -> QuerySet[Host]:
    """What the answer shows, in one query whatever the page's size: posture joined, "a scan
    is active" as EXISTS, "a key is stored" as a comparison (the ciphertext stays unread)."""
    active = ScanRun.objects.active().filter(host=OuterRef("pk"))
    return (
        hosts.select_related("posture")
        .defer(
            "tls_client_key_enc",
            "ssh_private_key_enc",
            "ssh_access_key_enc",
            "posture__rule_summary",
        )
        .annotate(
            scan_active=Exists(active),
            stored_tls_key=_stored("tls_client_key_enc"),
            stored_ssh_key=_stored("ssh_private_key_enc"),
            stored_access_key=_stored("ssh_access_key_enc"),
        )
    )


def record_update(request: Request, form: HostForm, host: Host) -> None:
    """The audit events of the host page's edit (fleet.views.host_forms), for the API."""
    after = audited(host)
    changes = diff(form.before, after, secret=SECRET_FIELDS)
    if changes:
        record("host.updated", request=request, target=host, changes=changes)
    if "endpoint" in changes:
        endpoint = (form.before["endpoint"], after["endpoint"])
        record(
            "host.endpoint_changed", request=request, target=host, changes={"endpoint": endpoint}
        )
    credentials = form.credential_changes()
    if credentials["replaced"] or credentials["removed"]:
        record("host.credentials_replaced", request=request, target=host, details=credentials)


FILTERS = [
    OpenApiParameter("q", OpenApiTypes.STR, description="Name or endpoint contains."),
    OpenApiParameter("search", OpenApiTypes.STR, description="Same as q."),
    OpenApiParameter("label", OpenApiTypes.STR, many=True, description="key=value or key."),
    OpenApiParameter("team", OpenApiTypes.STR, description="The team label's value."),
    OpenApiParameter(
        "status", OpenApiTypes.STR, enum=["ok", "failing", "error", "stale", "never", "scanning"]
    ),
    OpenApiParameter("grade", OpenApiTypes.STR, enum=["A", "B", "C", "D", "E", "F"]),
]


@extend_schema_view(
    get=extend_schema(tags=["hosts"], parameters=FILTERS),
    post=extend_schema(
        tags=["hosts"], request=HostWriteSerializer, responses={201: HostSerializer}
    ),
)
@allow(Perm.VIEW, write=Perm.HOST_EDIT)
class HostList(ApiMixin, generics.ListCreateAPIView[Host]):
    serializer_class = HostSerializer
    cursor_ordering = "name"

    def get_queryset(self) -> QuerySet[Host]:
        params = self.request.query_params.copy()
        if "search" in params and "q" not in params:
            params["q"] = params["search"]
        filters = FleetFilters.from_query(params)
        team = params.get("team", "").strip()
        if team:
            filters = replace(filters, labels=(*filters.labels, ("team", team)))
        return with_status(filtered(hosts_in(self.access.scope), filters))

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        sent = HostWriteSerializer(data=request.data)
        sent.is_valid(raise_exception=True)
        form = HostForm(form_data(dict(sent.validated_data), None), access=self.access)
        raise_form_errors(form)
        with transaction.atomic():
            host = form.save()
            details = {
                "endpoint": host.endpoint,
                "labels": host.labels,
                "credentials": [s for s in SECRET_FIELDS if form.cleaned_data.get(s)],
            }
            record("host.created", request=request, target=host, details=details)
            if host.enabled:
                request_scan(host, trigger=ScanRun.Trigger.MANUAL)
        body = HostSerializer(with_status(Host.objects.filter(pk=host.pk)).get()).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": _url(host)})


def _url(host: Host) -> str:
    return f"/api/v1/hosts/{host.name}/"


@extend_schema_view(
    get=extend_schema(tags=["hosts"]),
    put=extend_schema(tags=["hosts"], request=HostWriteSerializer),
    patch=extend_schema(tags=["hosts"], request=HostWriteSerializer),
    delete=extend_schema(tags=["hosts"]),
)
@allow(Perm.VIEW, write=Perm.HOST_EDIT)
class HostDetail(ApiMixin, generics.RetrieveUpdateDestroyAPIView[Host]):
    serializer_class = HostSerializer
    lookup_field = "name"

    def get_object(self) -> Host:
        hosts = with_status(hosts_in(self.access.scope))
        host = get_object_or_404(hosts, name=self.kwargs["name"])
        wanted = Perm.VIEW if self.request.method in ("GET", "HEAD") else Perm.HOST_EDIT
        check_host(self.request, host.labels, wanted)
        return host

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # The whole row for the form (get_object leaves the sealed keys unread).
        host = Host.objects.get(pk=self.get_object().pk)
        partial = request.method == "PATCH"
        sent = HostWriteSerializer(data=request.data, partial=partial)
        sent.is_valid(raise_exception=True)
        data = form_data(dict(sent.validated_data), host)
        form = HostForm(data, instance=host, access=self.access)
        raise_form_errors(form)
        with transaction.atomic():
            host = form.save()
            record_update(request, form, host)
        return Response(HostSerializer(with_status(Host.objects.filter(pk=host.pk)).get()).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        host = self.get_object()
        with transaction.atomic():
            details = {"endpoint": host.endpoint, "labels": host.labels}
            record("host.deleted", request=request, target=host, details=details)
            host.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

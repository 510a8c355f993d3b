"""The fleet inventory over HTTP: GET exports it, POST imports one (hosts.inventory, the
same code as `manage.py host import`; docs/INVENTORY.md).

Both need Perm.HOST_EDIT and see only the caller's teams: the export lists the hosts it may
edit, an import may create, change and prune only hosts of its teams (the host form refuses
a team label outside them; --prune's candidates are the caller's hosts). Keys are
references, and a remote caller must not make the server read its own secrets: `env:` is
refused, `file:` only names files under POSTURE_INVENTORY_SECRETS_DIR.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.policy import allow
from access.roles import Perm
from api.base import ApiMixin, scoped
from audit.services import record
from hosts import inventory, inventory_entries, inventory_io
from hosts.models import Host

FORMATS = {
    "yaml": ("application/yaml", inventory_io.dump_yaml),
    "csv": ("text/csv", inventory_io.dump_csv),
}


RESULT = inline_serializer(
    "InventoryResult",
    {
        "applied": serializers.BooleanField(help_text="false for a dry run"),
        "created": serializers.IntegerField(),
        "changed": serializers.IntegerField(),
        "unchanged": serializers.IntegerField(),
        "removed": serializers.IntegerField(),
        "changes": inline_serializer(
            "InventoryChange",
            {
                "name": serializers.CharField(),
                "action": serializers.ChoiceField(["create", "change", "delete"]),
                "fields": serializers.DictField(
                    help_text="field: [before, after]; keys as (replaced), certificates "
                    "and host keys as fingerprints"
                ),
            },
            many=True,
        ),
    },
)


class TooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def references() -> inventory_entries.References:
    root = settings.POSTURE_INVENTORY_SECRETS_DIR
    directory = Path(root) if root else None
    return inventory_entries.References(
        allow_env=False, base_dir=directory, only_under=directory, allow_files=bool(root)
    )


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "0").lower() in ("1", "true", "yes")


@allow(Perm.HOST_EDIT)
class Inventory(ApiMixin, APIView):
    # The body is read raw: YAML, CSV or JSON (JSON is YAML), parsed by hosts.inventory_io.
    parser_classes: list[Any] = []

    @extend_schema(
        tags=["inventory"],
        parameters=[
            OpenApiParameter("output", str, enum=["yaml", "csv"], description="default yaml")
        ],
        responses={(200, "application/yaml"): OpenApiTypes.STR},
        description="The inventory of the caller's hosts, in the format import reads: "
        "certificates and pinned host keys inline, private keys never (an entry without "
        "one keeps the stored key).",
    )
    def get(self, request: Request) -> HttpResponse:
        fmt = request.query_params.get("output", "yaml")
        if fmt not in FORMATS:
            raise exceptions.ValidationError({"output": [_("yaml or csv.")]})
        hosts = scoped(request, Host.objects.order_by("name"))
        entries = inventory.export_entries(hosts)
        record(
            "host.inventory_exported",
            request=request,  # type: ignore[arg-type]
            details={"format": fmt, "hosts": len(entries)},
        )
        content_type, dump = FORMATS[fmt]
        return HttpResponse(dump(entries), content_type=f"{content_type}; charset=utf-8")

    @extend_schema(
        tags=["inventory"],
        request={
            "application/yaml": OpenApiTypes.STR,
            "text/csv": OpenApiTypes.STR,
            "application/json": OpenApiTypes.OBJECT,
        },
        parameters=[
            OpenApiParameter("dry_run", bool, description="report the changes, write nothing"),
            OpenApiParameter("prune", bool, description="remove the caller's hosts not listed"),
        ],
        responses={200: RESULT},
        description="Apply an inventory (YAML, JSON, or CSV with Content-Type text/csv): "
        "the hosts it lists are created or changed, checked as the host form checks them; "
        "with prune=1 the caller's hosts it does not list are removed. All or nothing: "
        "400 lists every invalid entry by line and name. Keys only as file: references "
        "under POSTURE_INVENTORY_SECRETS_DIR. The answer: counts and each change.",
    )
    def post(self, request: Request) -> Response:
        raw = self._body(request)
        fmt = "csv" if "csv" in (request.content_type or "") else "yaml"
        try:
            parsed = inventory_io.parse(raw, fmt)
        except inventory_io.InventoryError as exc:
            raise exceptions.ValidationError({"inventory": exc.messages}) from None
        refs = references()
        result = inventory.run(
            [inventory_entries.read_entry(r, refs) for r in parsed],
            access=self.access,
            audit={"request": request},
            dry_run=_flag(request, "dry_run"),
            prune=_flag(request, "prune"),
        )
        if result.errors:
            raise exceptions.ValidationError({"inventory": result.errors})
        return Response(result.as_dict())

    def _body(self, request: Request) -> bytes:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        too_large = TooLarge(_("The inventory is larger than 4 MiB."))
        if length > inventory_io.MAX_BYTES:
            raise too_large
        # The request's own stream: request.body stops at DATA_UPLOAD_MAX_MEMORY_SIZE.
        raw: bytes = request._request.read(inventory_io.MAX_BYTES + 1)
        if len(raw) > inventory_io.MAX_BYTES:
            raise too_large
        return raw

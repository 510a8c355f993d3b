"""The OpenAPI schema and its documentation page (Swagger UI from the sidecar's static
files: no CDN; its start-up script served by the view as a file, for the strict CSP)."""

from __future__ import annotations

from typing import Any

from django.utils import translation
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.request import Request
from rest_framework.response import Response

from access.policy import signed_in
from api.base import ApiMixin

# The schema is the code's: the same for every caller (SERVE_PUBLIC) until the next deploy,
# and generating it walks every view (a few hundred milliseconds). Kept per process, per
# version and language (help texts are translated).
_SCHEMAS: dict[tuple[Any, ...], Any] = {}


@signed_in
class Schema(ApiMixin, SpectacularAPIView):
    def _get_schema_response(self, request: Request) -> Response:
        key = (request.version, translation.get_language(), request.get_host())
        if key not in _SCHEMAS:
            _SCHEMAS[key] = super()._get_schema_response(request).data
        filename = self._get_filename(request, request.version)
        return Response(
            _SCHEMAS[key], headers={"Content-Disposition": f'inline; filename="{filename}"'}
        )


@signed_in
class Docs(ApiMixin, SpectacularSwaggerSplitView):
    template_name = "api/swagger_ui.html"
    login_redirect = True  # a person opening the page is sent to the login page
    url_name = "api-schema"

"""The OpenAPI schema and its documentation page (Swagger UI from the sidecar's static
files: no CDN; its start-up script served by the view as a file, for the strict CSP)."""

from __future__ import annotations

from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from access.policy import signed_in
from api.base import ApiMixin


@signed_in
class Schema(ApiMixin, SpectacularAPIView):
    pass


@signed_in
class Docs(ApiMixin, SpectacularSwaggerSplitView):
    template_name = "api/swagger_ui.html"
    login_redirect = True  # a person opening the page is sent to the login page
    url_name = "api-schema"

"""/images/inventory/<key>/: what an image holds (its packages, as read or uploaded), the
vulnerabilities matched in it and who runs it; its panel on the findings image page; and
its CycloneDX download."""

from __future__ import annotations

import re

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from access.policy import allow
from access.roles import Perm
from access.services import request_access
from posture.lib.htmx import HtmxHttpRequest, render_page
from vulndb.freshness import data_status
from vulns import exports, places
from vulns.models import ImageInventory
from vulns.views.downloads import attachment, downloaded

IMAGE_ID = re.compile(r"sha256:[0-9a-f]{64}")
# The findings image page lists a few ids per reference; more are not a page's panel.
PANEL_IMAGES = 20


@allow(Perm.VIEW)
@require_GET
def inventory(request: HtmxHttpRequest, key: str) -> HttpResponse:
    found = get_object_or_404(ImageInventory, key=key)
    filters = places.PackageFilters.from_query(request.GET)
    scope = request_access(request).scope
    view = places.inventory_view(found, filters, request.GET.get("page"), scope=scope)
    if view is None:
        raise Http404
    context = {
        "view": view,
        "can_export": request_access(request).can(Perm.EXPORT),
        "filters": filters,
        "data": data_status(),
    }
    return render_page(request, "vulns/inventory.html", "package-table", context)


@allow(Perm.VIEW)
@require_GET
def inventory_panel(request: HtmxHttpRequest) -> HttpResponse:
    """The inventories of ?image=<id> (repeatable), for the findings image page's hx-get."""
    ids = [i for i in request.GET.getlist("image")[:PANEL_IMAGES] if IMAGE_ID.fullmatch(i)]
    context = {
        "inventories": (
            places.inventories_of_images(ids, scope=request_access(request).scope) if ids else []
        ),
        "data": data_status(),
        "can_export": request_access(request).can(Perm.EXPORT),
    }
    return render(request, "vulns/inventory_panel.html", context)


@allow(Perm.EXPORT)
@require_GET
def inventory_cyclonedx(request: HtmxHttpRequest, key: str) -> HttpResponse:
    found = get_object_or_404(ImageInventory, key=key)
    if not places.inventory_in_scope(found, request_access(request).scope):
        raise Http404
    downloaded(request, "sbom.cdx.json", inventory=key)
    body = exports.cyclonedx_sbom(found)
    response = HttpResponse(body, content_type="application/vnd.cyclonedx+json")
    attachment(response, f"sbom-{key[:12]}.cdx.json")
    return response

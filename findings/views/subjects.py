"""Subject pages: a container on one host, every container of a name across the fleet, and
an image (by id or reference) with the hosts holding it and the findings on it and on the
containers created from it. Same finding table and htmx pattern as the rule page. Without a
name, /containers/ and /images/ list every one of the fleet (findings.lists).

Ids and references are checked against their grammar before any query: anything else is a
404, as is a subject that no host has and no open finding names.
"""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from access.objects import check_host
from access.policy import allow
from access.roles import Perm
from access.scope import TEAM_LABEL
from access.scope import Scope as HostScope
from access.services import request_access
from findings import drilldown, lists, selection
from findings.models import Container
from hosts.models import Host
from posture.lib.htmx import HtmxHttpRequest, render_page

# Container names are at most this long in the inventory; longer cannot match anything.
NAME_MAX = 255


@allow(Perm.VIEW)
@require_GET
def container_detail(request: HtmxHttpRequest, name: str, container_id: str) -> HttpResponse:
    """One container on one host: what the inventory holds about it and its open findings."""
    if not drilldown.CONTAINER_ID.fullmatch(container_id):
        raise Http404
    host = get_object_or_404(Host, name=name)
    check_host(request, host.labels, Perm.VIEW)
    container = (
        Container.objects.filter(host=host, container_id=container_id)
        .only("name", "container_id", "image_ref", "image_id", "state", "first_seen_at", "gone_at")
        .first()
    )
    rows = drilldown.container_findings(host.pk, container_id)
    if container is None and not rows:
        raise Http404
    context = {
        "host": host,
        "container": container,
        "container_id": container_id,
        "name": container.name if container else rows[0].name,
        "rows": [row for row in rows if not row.accepted],
        "accepted_rows": [row for row in rows if row.accepted],
        "image_ref": drilldown.image_ref(container.image_ref) if container else None,
        "image_id": container.image_id
        if container and drilldown.IMAGE_ID.fullmatch(container.image_id)
        else "",
    }
    return render(request, "findings/container.html", context)


def _subject_list(request: HtmxHttpRequest, kind: str) -> HttpResponse:
    """/containers/ and /images/: the fleet's live containers or images in scope."""
    filters = lists.SubjectFilters.from_query(request.GET)
    scope = request_access(request).scope
    build = lists.containers if kind == "container" else lists.images
    context = {
        "kind": kind,
        "filters": filters,
        "subjects": build(filters, scope, request.GET.get("page")),
        "page_url": request.path,
        "teams": sorted(scoping_teams(scope)),
        "severities": list(lists.SEVERITY_LABELS),
        "export_extra": filters.export_params(kind),
    }
    template = "findings/containers_list.html" if kind == "container" else "findings/images.html"
    return render_page(request, template, "subject-list", context)


def scoping_teams(scope: HostScope) -> set[str]:
    """The team labels of the hosts in scope: the choices of the lists' team filter."""
    labels = selection.hosts_in(scope).values_list("labels", flat=True)
    return {str(v[TEAM_LABEL]) for v in labels if isinstance(v, dict) and v.get(TEAM_LABEL)}


@allow(Perm.VIEW)
@require_GET
def images(request: HtmxHttpRequest) -> HttpResponse:
    """Every image held by the hosts in scope, with the failing findings on each."""
    return _subject_list(request, "image")


@allow(Perm.VIEW)
@require_GET
def containers(request: HtmxHttpRequest) -> HttpResponse:
    """Without ?name=, every live container of the fleet in scope; with it, every live
    container of that name across the fleet and the open findings on them."""
    name = str(request.GET.get("name", ""))
    if not name:
        return _subject_list(request, "container")
    if len(name) > NAME_MAX:
        raise Http404
    scope = request_access(request).scope
    filters = drilldown.FindingFilters.from_query(request.GET, fixed=(("name", name),))
    live = drilldown.containers_named(name, scope)
    base = drilldown.container_named(name, scope)
    findings = drilldown.finding_page(drilldown.failing(base), filters, request.GET.get("page"))
    accepted = drilldown.accepted_group(base, filters)
    if not live and not findings.unfiltered and not accepted.total:
        raise Http404
    context = {
        "name": name,
        "containers": live,
        "filters": filters,
        "findings": findings,
        "accepted": accepted,
        "page_url": request.path,
        "kinds": (),
        "show_rule": True,
        "truncated": len(live) >= drilldown.LIST_LIMIT,
        "export_carry": "findings",
        "export_name": name,
    }
    return render_page(request, "findings/containers.html", "subject-findings", context)


@allow(Perm.VIEW)
@require_GET
def image_detail(request: HtmxHttpRequest, ref: str) -> HttpResponse:
    """The image an id or reference names across the fleet: hosts holding or running it, and
    the open findings on the image and on containers created from it."""
    valid = drilldown.image_ref(ref)
    if valid is None:
        raise Http404
    view = drilldown.image_view(valid, request_access(request).scope)
    filters = drilldown.FindingFilters.from_query(request.GET)
    findings = drilldown.finding_page(
        drilldown.failing(view.findings), filters, request.GET.get("page")
    )
    accepted = drilldown.accepted_group(view.findings, filters)
    if not view.found and not findings.unfiltered and not accepted.total:
        raise Http404
    context = {
        "image": view,
        "filters": filters,
        "findings": findings,
        "accepted": accepted,
        "page_url": request.path,
        "kinds": ("container", "image"),
        "show_rule": True,
        "truncated": len(view.hosts) >= drilldown.LIST_LIMIT,
        "export_carry": "findings",
        "export_image": view.ref,
    }
    return render_page(request, "findings/image.html", "subject-findings", context)

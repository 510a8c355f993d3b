"""The host page's on-demand parts: every failing subject of one rule, loaded by htmx when a
reader asks for more than the few the page shows (a rule failing on 200 containers)."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from access.objects import check_host
from access.policy import allow
from access.roles import Perm
from fleet import hostpage as reports
from hosts.models import Host
from posture.lib.htmx import HtmxHttpRequest, render_page


@allow(Perm.VIEW)
@require_GET
def rule_subjects(request: HtmxHttpRequest, name: str, rule_id: str) -> HttpResponse:
    """All the subjects failing `rule_id` on the host: the list alone for htmx, a small
    page of its own for a plain link (the href fallback)."""
    host = get_object_or_404(Host, name=name)
    check_host(request, host.labels, Perm.VIEW)
    groups = reports.failing_rules(host, rule_id)
    if not groups:
        raise Http404("no open finding of this rule on this host")
    context = {"host": host, "group": groups[0]}
    return render_page(request, "fleet/host_subjects.html", "subject-list", context)

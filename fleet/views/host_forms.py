"""Adding, editing and deleting hosts. The posture pages live in fleet.views.hosts."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from access.policy import allow
from access.roles import Perm
from hosts.forms import HostForm
from hosts.models import Host
from scans.models import ScanRun
from scans.services import request_scan


@allow(Perm.HOST_EDIT)
@require_http_methods(["GET", "POST"])
def host_add(request: HttpRequest) -> HttpResponse:
    form = HostForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            host = form.save()
            if host.enabled:
                # A new host should show a picture right away, not at its first interval.
                request_scan(host, trigger=ScanRun.Trigger.MANUAL)
        messages.success(
            request,
            _("Host added; its first scan is queued.") if host.enabled else _("Host added."),
        )
        return redirect("host-detail", name=host.name)
    return render(request, "fleet/host_form.html", {"form": form, "host": None, "name": ""})


@allow(Perm.HOST_EDIT)
@require_http_methods(["GET", "POST"])
def host_edit(request: HttpRequest, name: str) -> HttpResponse:
    host = get_object_or_404(Host, name=name)
    form = HostForm(request.POST or None, instance=host)
    if request.method == "POST" and form.is_valid():
        host = form.save()
        messages.success(request, _("Host saved."))
        return redirect("host-detail", name=host.name)
    # A failed submit has already copied the typed values onto form.instance: links use
    # the name the host is stored under.
    return render(request, "fleet/host_form.html", {"form": form, "host": host, "name": name})


@allow(Perm.HOST_EDIT)
@require_http_methods(["GET", "POST"])
def host_delete(request: HttpRequest, name: str) -> HttpResponse:
    host = get_object_or_404(Host, name=name)
    if request.method == "POST":
        host.delete()
        messages.success(request, _("Host %(name)s deleted.") % {"name": name})
        return redirect("fleet")
    return render(request, "fleet/host_confirm_delete.html", {"host": host})

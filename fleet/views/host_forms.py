"""Adding, editing and deleting hosts. The posture pages live in fleet.views.hosts.

Each change is one transaction with its audit events, so the trail cannot miss a change
that happened, nor show one that was rolled back.
"""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from access.objects import check_host
from access.policy import allow
from access.roles import Perm
from access.services import request_access
from audit.services import diff, record
from hosts.forms import SECRET_FIELDS, HostForm, audited
from hosts.models import Host
from posture.lib.htmx import form_status
from scans.models import ScanRun
from scans.services import request_scan


def _record_edit(request: HttpRequest, form: HostForm, host: Host) -> None:
    after = audited(host)
    changes = diff(form.before, after, secret=SECRET_FIELDS)
    if changes:
        record("host.updated", request=request, target=host, changes=changes)
    if "endpoint" in changes:
        record(
            "host.endpoint_changed",
            request=request,
            target=host,
            changes={"endpoint": (form.before["endpoint"], after["endpoint"])},
        )
    credentials = form.credential_changes()
    if credentials["replaced"] or credentials["removed"]:
        record("host.credentials_replaced", request=request, target=host, details=credentials)


@allow(Perm.HOST_EDIT)
@sensitive_post_parameters(*SECRET_FIELDS)
@require_http_methods(["GET", "POST"])
def host_add(request: HttpRequest) -> HttpResponse:
    form = HostForm(request.POST or None, access=request_access(request))
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            host = form.save()
            record(
                "host.created",
                request=request,
                target=host,
                details={
                    "endpoint": host.endpoint,
                    "labels": host.labels,
                    "credentials": [s for s in SECRET_FIELDS if form.cleaned_data.get(s)],
                },
            )
            if host.enabled:
                # A new host should show a picture right away, not at its first interval.
                request_scan(host, trigger=ScanRun.Trigger.MANUAL)
        messages.success(
            request,
            _("Host added; its first scan is queued.") if host.enabled else _("Host added."),
        )
        return redirect("host-detail", name=host.name)
    context = {"form": form, "host": None, "name": ""}
    return render(request, "fleet/host_form.html", context, status=form_status(request, form))


@allow(Perm.HOST_EDIT)
@sensitive_post_parameters(*SECRET_FIELDS)
@require_http_methods(["GET", "POST"])
def host_edit(request: HttpRequest, name: str) -> HttpResponse:
    host = get_object_or_404(Host, name=name)
    check_host(request, host.labels, Perm.HOST_EDIT)
    form = HostForm(request.POST or None, instance=host, access=request_access(request))
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            host = form.save()
            _record_edit(request, form, host)
        messages.success(request, _("Host saved."))
        return redirect("host-detail", name=host.name)
    # A failed submit has already copied the typed values onto form.instance: links use
    # the name the host is stored under.
    context = {"form": form, "host": host, "name": name}
    return render(request, "fleet/host_form.html", context, status=form_status(request, form))


@allow(Perm.HOST_EDIT)
@require_http_methods(["GET", "POST"])
def host_delete(request: HttpRequest, name: str) -> HttpResponse:
    host = get_object_or_404(Host, name=name)
    check_host(request, host.labels, Perm.HOST_EDIT)
    if request.method == "POST":
        with transaction.atomic():
            # Before the delete: afterwards the host has no primary key to name.
            record(
                "host.deleted",
                request=request,
                target=host,
                details={"endpoint": host.endpoint, "labels": host.labels},
            )
            host.delete()
        messages.success(request, _("Host %(name)s deleted.") % {"name": name})
        return redirect("fleet")
    return render(request, "fleet/host_confirm_delete.html", {"host": host})

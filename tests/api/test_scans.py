"""A scan requested through the API and waited for, as a CI job does: a Celery worker on
the lab Redis scans the lab's real dockerd while the API call waits (?wait=N)."""

from __future__ import annotations

from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.test import Client

from audit.models import AuditEvent
from hosts.models import Host
from lab.daemon import LabDaemon
from posture.celery import app
from scans.models import ScanRun
from tests.api.conftest import bearer
from tests.factories import UserFactory

pytestmark = [pytest.mark.celery, pytest.mark.docker, pytest.mark.django_db(transaction=True)]


def test_request_then_wait_for_the_end(
    broker: str, lab_daemon: LabDaemon, api: Client, token_for: Any
) -> None:
    Host.objects.create(name="lab", endpoint=lab_daemon.unix_url, labels={"team": "ops"})
    auth = bearer(token_for(UserFactory(), role="admin"))
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        queued = api.post("/api/v1/hosts/lab/scans/", **auth)
        assert queued.status_code == 202, queued.content
        body = queued.json()
        assert body["status"] in ("queued", "running") and body["url"] == queued["Location"]
        again = api.post("/api/v1/hosts/lab/scans/", **auth).json()
        assert again["id"] == body["id"], "one scan per host at a time"
        done = api.get(body["url"] + "?wait=60", **auth).json()
    assert done["status"] == "succeeded", done
    assert done["score"] is not None and done["error"] is None
    assert ScanRun.objects.get(pk=body["id"]).status == ScanRun.Status.SUCCEEDED
    assert AuditEvent.objects.filter(action="scan.requested").count() == 2
    posture = api.get("/api/v1/hosts/lab/posture/", **auth).json()
    assert posture["score"] == done["score"] and posture["status"] == "ok"


def test_a_failed_scan_says_why(api: Client, token_for: Any) -> None:
    host = Host.objects.create(name="gone", endpoint="unix:///nonexistent/docker.sock")
    scan = ScanRun.objects.create(
        host=host, status=ScanRun.Status.FAILED, error_class="unreachable", error_detail="ENOENT"
    )
    viewer = bearer(token_for(UserFactory(role="viewer"), role="viewer"))
    error = api.get(f"/api/v1/scans/{scan.pk}/?wait=5", **viewer).json()["error"]
    assert error["class"] == "unreachable" and error["message"] and error["detail"] == ""
    admin = bearer(token_for(UserFactory(), role="admin"))
    assert api.get(f"/api/v1/scans/{scan.pk}/", **admin).json()["error"]["detail"] == "ENOENT"
    assert api.get("/api/v1/scans/1/?wait=x", **admin).status_code in (400, 404)

"""Through a real scan of the lab dockerd: its privileged and docker-socket samples each send
one mail with the evidence read from the daemon; a second scan of the same state sends none."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

import docker
import docker.errors
import pytest
from django.utils import timezone

from alerts.models import Notification, Regression
from hosts.models import Host
from lab.daemon import LabDaemon
from lab.smtp import LabSmtp
from scans import services
from scans.models import ScanRun
from tests.alerts.helpers import BASE_URL, LIMITS, html_part, text_part
from tests.factories import ScanRunFactory

pytestmark = [pytest.mark.docker, pytest.mark.django_db]


def scan(host: Host, capture: Any) -> ScanRun:
    with capture(execute=True):
        queued, _ = services.request_scan(host, enqueue=False)
        run = services.run_scan(queued.pk, LIMITS)
    assert run.status == ScanRun.Status.SUCCEEDED, run.error_detail
    return run


def test_real_scan_mails_dangerous_containers_once(
    lab_daemon: LabDaemon,
    lab_samples: dict[str, str],
    lab_smtp: LabSmtp,
    subscriber: Any,
    django_capture_on_commit_callbacks: Any,
    settings: Any,
) -> None:
    settings.POSTURE_ALERTS = {**settings.POSTURE_ALERTS, "RATE_LIMIT_PER_HOUR": 1000}
    host = Host.objects.create(name="lab", endpoint=lab_daemon.unix_url)
    # Scanned before these containers existed: a host's first picture is only a baseline.
    ScanRunFactory(host=host, requested_at=timezone.now() - timedelta(hours=1))

    scan(host, django_capture_on_commit_callbacks)

    dangerous = Regression.objects.filter(host=host, kind=Regression.Kind.DANGEROUS)
    sent = Notification.objects.filter(status=Notification.Status.SENT)
    assert sent.count() == Regression.objects.filter(host=host).count() > 0
    mails = lab_smtp.wait_for(sent.count())
    by_subject = {m["Subject"]: m for m in mails}
    privileged = next(s for s in by_subject if "CTR-PRIVILEGED on lab-privileged" in s)
    text = text_part(by_subject[privileged])
    assert "HostConfig.Privileged = true" in text
    assert "Recreate the container without --privileged" in text
    assert f"{BASE_URL}/hosts/lab/" in text
    assert f'href="{BASE_URL}/hosts/lab/"' in html_part(by_subject[privileged])
    socket = next(s for s in by_subject if "CTR-DOCKER-SOCKET on lab-docker-sock" in s)
    assert "docker.sock" in text_part(by_subject[socket])
    assert {r.finding.rule_id for r in dangerous if r.finding} == {
        "CTR-PRIVILEGED",
        "CTR-DOCKER-SOCKET",
    }

    scan(host, django_capture_on_commit_callbacks)  # nothing changed on the daemon

    assert Notification.objects.count() == len(mails)
    assert len(lab_smtp.messages) == len(mails)


def test_real_redeploy_sends_nothing_and_removal_recovers(
    lab_daemon: LabDaemon,
    lab_client: docker.APIClient,
    lab_image: str,
    lab_smtp: LabSmtp,
    subscriber: Any,
    django_capture_on_commit_callbacks: Any,
    settings: Any,
) -> None:
    """GIVEN a privileged container alerted on by a real scan
    WHEN it is removed and created again under its name (a new id), then removed for good
    THEN the rescan after the redeploy sends nothing and keeps its regression on the new
    container; the one after the removal sends one recovery."""
    settings.POSTURE_ALERTS = {**settings.POSTURE_ALERTS, "RATE_LIMIT_PER_HOUR": 1000}
    name = "redeploy-web"  # not lab-*: create_samples would replace it

    def deploy() -> str:
        config = lab_client.create_host_config(privileged=True, network_mode="none")
        return str(
            lab_client.create_container(
                lab_image, ["sleep", "3600"], name=name, host_config=config
            )["Id"]
        )

    host = Host.objects.create(name="lab-redeploy", endpoint=lab_daemon.unix_url)
    ScanRunFactory(host=host, requested_at=timezone.now() - timedelta(hours=1))
    try:
        deploy()
        scan(host, django_capture_on_commit_callbacks)
        sent = Notification.objects.count()
        ours = Regression.objects.open().filter(host=host, finding__subject_name=name)
        regressions = set(ours.values_list("pk", flat=True))
        assert ours.filter(finding__rule_id="CTR-PRIVILEGED").exists()

        lab_client.remove_container(name, force=True)
        new_id = deploy()
        scan(host, django_capture_on_commit_callbacks)

        assert Notification.objects.count() == sent
        assert set(ours.values_list("pk", flat=True)) == regressions
        assert {r.finding.subject_key for r in ours if r.finding} == {new_id}

        lab_client.remove_container(name, force=True)
        scan(host, django_capture_on_commit_callbacks)

        after = list(Notification.objects.order_by("id")[sent:])
        assert {n.kind for n in after} == {"recovery"}
        assert {n.event.regression_id for n in after if n.event} == regressions
        assert len(after) == len(regressions)
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            lab_client.remove_container(name, force=True)

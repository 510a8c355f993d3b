"""Through real scans of the lab dockerd: an exception takes the privileged sample's failure
out of the score while the finding stays listed as accepted; its expiry puts it back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from alerts.models import Regression
from findings.models import Finding, HostPosture
from hosts.models import Host
from lab.daemon import LabDaemon
from policy import exceptions as risk
from policy.models import RiskException, RuleOverride
from rules import Severity
from scans import services
from scans.models import ScanRun
from scans.transports import Limits
from tests.factories import UserFactory

pytestmark = [pytest.mark.docker, pytest.mark.django_db]
LIMITS = Limits(deadline=20, connect_timeout=3, read_timeout=10)


def run(scan: ScanRun) -> ScanRun:
    done = services.run_scan(scan.pk, LIMITS)
    assert done.status == ScanRun.Status.SUCCEEDED, done.error_detail
    return done


def scan(host: Host) -> ScanRun:
    queued, _ = services.request_scan(host, enqueue=False)
    return run(queued)


def queued_scan(host: Host) -> ScanRun:
    return ScanRun.objects.get(host=host, status=ScanRun.Status.QUEUED)


def privileged(host: Host) -> Finding:
    return Finding.objects.open().get(
        host=host, rule_id="CTR-PRIVILEGED", subject_name="lab-privileged"
    )


@pytest.fixture
def page(client: Client) -> Client:
    client.force_login(UserFactory(username="maya"))
    return client


def test_accepted_failure_leaves_the_score_until_the_exception_expires(
    lab_daemon: LabDaemon,
    lab_samples: dict[str, str],
    page: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """GIVEN a real scan of the lab daemon, with the privileged sample failing
    WHEN an exception accepts that failure (host + container name), then expires
    THEN the score rises while the finding is shown as accepted, then falls back to the
    first score with the finding shown as "exception expired on …", one finding throughout."""
    host = Host.objects.create(name="lab", endpoint=lab_daemon.unix_url)
    before = scan(host)
    finding = privileged(host)
    assert not finding.accepted and before.score is not None

    exc = risk.create(
        rule_id="CTR-PRIVILEGED",
        host=host,
        container_pattern="lab-priv*",
        reason="vendor appliance, replaced in Q3",
        owner="ops-lead@example.org",
        expires_at=timezone.now() + timedelta(days=45),
        requested_by=UserFactory(username="maya"),
        can_approve=True,  # an approver, four eyes off: in force at once
    )
    rescan = queued_scan(host)  # create queued it: no wait for the next slot
    assert rescan.trigger == ScanRun.Trigger.EXCEPTION
    accepted = run(rescan)

    assert accepted.score is not None and accepted.score > before.score
    finding.refresh_from_db()
    assert finding.is_open and finding.accepted and finding.exception_id == exc.pk
    assert privileged(host).pk == finding.pk
    # Nothing else was accepted: every other failure still counts.
    assert list(Finding.objects.filter(accepted=True)) == [finding]
    posture = HostPosture.objects.get(host=host)
    assert posture.score == accepted.score
    body = page.get(reverse("host-detail", args=["lab"])).content.decode()
    assert "lab-privileged" in body
    assert "vendor appliance, replaced in Q3" in body and "ops-lead@example.org" in body
    assert f"until {timezone.localtime(exc.expires_at):%Y-%m-%d}" in body
    assert "1 accepted, out of the score" in body

    # An unchanged rescan leaves the accepted finding as it is.
    assert scan(host).score == accepted.score

    RiskException.objects.filter(pk=exc.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    with (
        mock.patch("scans.tasks.scan_host.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert risk.queue_expired() == 1
    reopened = run(queued_scan(host))
    assert delay.call_args.args == (reopened.pk,)

    assert reopened.score == before.score
    finding.refresh_from_db()
    assert finding.is_open and not finding.accepted and finding.exception_id == exc.pk
    body = page.get(reverse("host-detail", args=["lab"])).content.decode()
    exc.refresh_from_db()
    assert f"exception expired on {timezone.localtime(exc.expires_at):%Y-%m-%d}" in body
    assert "counts in the score again" in body


def test_accepted_findings_send_no_regression(
    lab_daemon: LabDaemon, lab_samples: dict[str, str]
) -> None:
    """GIVEN a host whose first (baseline) scan saw neither the privileged nor the socket
    sample fail (both rules turned off by its profile)
    WHEN the rules are turned back on, an exception accepting the privileged sample is in
    force, and the host is scanned again
    THEN the socket finding opens a regression, the accepted privileged one none."""
    host = Host.objects.create(name="lab", endpoint=lab_daemon.unix_url, labels={"env": "lab"})
    for rule_id in ("CTR-PRIVILEGED", "CTR-DOCKER-SOCKET"):
        RuleOverride.objects.create(rule_id=rule_id, host=host, action="disable", reason="x")
    scan(host)
    assert not Finding.objects.filter(host=host, rule_id="CTR-PRIVILEGED").exists()
    RuleOverride.objects.all().delete()
    risk.create(
        rule_id="CTR-PRIVILEGED",
        label_key="env",
        label_value="lab",
        container_pattern="lab-privileged",
        reason="lab sample",
        owner="lab team",
        expires_at=timezone.now() + timedelta(days=5),
        requested_by=UserFactory(username="maya"),
        can_approve=True,  # an approver, four eyes off: in force at once
    )
    second = scan(host)
    accepted = privileged(host)
    assert accepted.accepted and accepted.opened_scan_id == second.pk
    alerted = set(
        Regression.objects.filter(host=host, finding__isnull=False).values_list(
            "finding_id", flat=True
        )
    )
    # Compared with what this scan saw (other test sessions may share the lab daemon): every
    # high or critical failure it opened is a regression, except the accepted one.
    opened = Finding.objects.filter(opened_scan=second, severity__gte=Severity.HIGH)
    assert alerted == set(opened.filter(accepted=False).values_list("pk", flat=True))
    assert alerted and accepted.pk not in alerted

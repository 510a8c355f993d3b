"""One mail when a regression appears, none while it persists, one when it clears."""

from __future__ import annotations

from typing import Any

import pytest

from alerts.models import Notification, Regression, Subscription
from findings.models import Finding
from hosts.models import Host
from lab.smtp import LabSmtp
from tests.alerts.helpers import BASE_URL, Scans, html_part, privileged, text_part
from tests.factories import FindingFactory, ScanRunFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_new_critical_finding_mails_once_then_recovery(
    host: Host, scans: Scans, subscriber: Any, lab_smtp: LabSmtp
) -> None:
    """GIVEN a subscriber to every host
    WHEN a scan opens a critical finding, the next sees it unchanged, a third resolves it
    THEN one alert (evidence, remediation, link), nothing for the repeat, one recovery."""
    scans.success(host, score=80)
    scans.success(host, score=80, opened=[privileged("web")])

    [mail] = lab_smtp.wait_for(1)
    assert mail["To"] == "ops@example.org"
    assert "CTR-PRIVILEGED on web" in mail["Subject"]
    text, html = text_part(mail), html_part(mail)
    assert "HostConfig.Privileged = true" in text
    assert "Recreate the container without --privileged" in text
    assert f"{BASE_URL}/hosts/pay-1/" in text
    assert f'<a href="{BASE_URL}/hosts/pay-1/">' in html
    assert "<code>HostConfig.Privileged</code>" in html

    scans.success(host, score=80)  # same state: the finding is still open
    assert len(lab_smtp.messages) == 1

    finding = Finding.objects.get(host=host)
    scans.success(host, score=80, resolved=[finding])
    _, recovery = lab_smtp.wait_for(2)
    assert "Resolved on pay-1: CTR-PRIVILEGED on web" in recovery["Subject"]
    regression = Regression.objects.get(host=host)
    assert regression.closed_at is not None
    assert list(Notification.objects.order_by("id").values_list("kind", "status")) == [
        ("finding", "sent"),
        ("recovery", "sent"),
    ]


def test_medium_finding_is_below_a_high_threshold(
    host: Host, scans: Scans, subscriber: Any, lab_smtp: LabSmtp
) -> None:
    opened = {"rule_id": "CTR-NO-NEW-PRIVILEGES", "severity": 2}
    scans.success(host, opened=[opened])
    assert not Regression.objects.exists()
    assert lab_smtp.messages == []


def test_score_drop_mails_and_recovers(
    host: Host, scans: Scans, subscriber: Any, lab_smtp: LabSmtp
) -> None:
    scans.success(host, score=90)
    scans.success(host, score=85)  # 5 points: under the threshold of 10
    assert lab_smtp.messages == []
    scans.success(host, score=78)  # 7 below the last scan, not 10: still nothing
    assert lab_smtp.messages == []
    scans.success(host, score=60)
    [mail] = lab_smtp.wait_for(1)
    assert "Score of pay-1 dropped from 78 to 60" in mail["Subject"]
    scans.success(host, score=55)  # lower still: the same regression, no new mail
    scans.success(host, score=75)  # 78 - 75 < 10: back
    _, recovery = lab_smtp.wait_for(2)
    assert "Score of pay-1 is back to 75" in recovery["Subject"]
    assert len(lab_smtp.messages) == 2


def test_unreachable_k_times_mails_once_then_recovery(
    host: Host, scans: Scans, subscriber: Any, lab_smtp: LabSmtp
) -> None:
    scans.success(host)
    scans.failure(host)
    scans.failure(host)
    assert lab_smtp.messages == []
    scans.failure(host)
    [mail] = lab_smtp.wait_for(1)
    assert "pay-1 failed its last 3 scans" in mail["Subject"]
    assert "Host unreachable" in text_part(mail)
    scans.failure(host)
    scans.failure(host)
    assert len(lab_smtp.messages) == 1
    scans.success(host)
    _, recovery = lab_smtp.wait_for(2)
    assert "pay-1 is scanning again" in recovery["Subject"]


def test_hostile_container_name_is_escaped(
    host: Host, scans: Scans, subscriber: Any, lab_smtp: LabSmtp
) -> None:
    hostile = '<script>alert(1)</script>"\r\nBcc: victim@example.org'
    finding = privileged(hostile)
    finding["evidence"] = [{"field": "HostConfig.Binds", "value": '["<img src=x onerror=1>"]'}]
    scans.success(host, opened=[finding])
    [mail] = lab_smtp.wait_for(1)
    html = html_part(mail)
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=1&gt;" in html
    # The name stays on one header line: no header injection through the subject.
    assert mail["Bcc"] is None
    assert "\n" not in mail["Subject"]
    assert "<script>alert(1)</script>" in text_part(mail)  # plain text is not HTML


def test_a_hosts_first_picture_is_its_baseline_not_a_regression(
    host: Host, subscriber: Any, scans: Scans, lab_smtp: LabSmtp
) -> None:
    """A fleet being onboarded must not mail every existing finding of every new host."""
    first = ScanRunFactory(host=host, score=40, grade="F")
    FindingFactory(host=host, opened_scan=first, opened_at=first.finished_at, **privileged("db"))
    scans.finish(first)
    assert not Regression.objects.filter(host=host).exists()
    with pytest.raises(TimeoutError):
        lab_smtp.wait_for(1, timeout=1)


def test_unreachable_detail_only_for_who_may_edit_the_host(
    host: Host, scans: Scans, subscriber: Any, lab_smtp: LabSmtp
) -> None:
    """A daemon's error body can reveal other services on the host: the mail carries it for
    an admin (who may edit the host) and leaves it out for a viewer, as the host page does."""
    viewer = UserFactory(username="manager", email="manager@example.org", role="viewer")
    Subscription.objects.create(user=viewer, scope=Subscription.Scope.ALL, min_severity=3)
    scans.success(host)
    for _ in range(3):
        scans.failure(host)

    mails = {m["To"]: text_part(m) for m in lab_smtp.wait_for(2)}

    assert "connection refused" in mails["ops@example.org"]
    assert "Host unreachable" in mails["manager@example.org"]
    assert "connection refused" not in mails["manager@example.org"]

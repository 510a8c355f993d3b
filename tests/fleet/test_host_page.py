"""The host page: findings with evidence and fixes, the failed-scan box, coverage, history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from fleet import hostpage as reports
from scans.transports.errors import ErrorClass
from tests.factories import (
    FindingFactory,
    HostFactory,
    HostPostureFactory,
    ScanRunFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def user_client(client: Client) -> Client:
    client.force_login(UserFactory())
    return client


def page(client: Client, name: str) -> str:
    response = client.get(reverse("host-detail", args=[name]))
    assert response.status_code == 200
    return response.content.decode()


def test_findings_are_grouped_by_rule_with_evidence_and_remediation(user_client: Client):
    host = HostFactory(name="web1")
    HostPostureFactory(host=host, score=55, grade="D", failing_critical=1, failing_low=1)
    FindingFactory(host=host, rule_id="CTR-PRIVILEGED", severity=4, subject_name="payments-api")
    FindingFactory(host=host, rule_id="CTR-PRIVILEGED", severity=4, subject_name="db")
    FindingFactory(
        host=host,
        rule_id="CTR-CPU-LIMIT",
        severity=1,
        subject_name="db",
        evidence=[{"field": "HostConfig.NanoCpus", "value": "0"}],
    )
    FindingFactory(host=host, rule_id="CTR-USER", subject_name="old", resolved_at=timezone.now())

    html = page(user_client, "web1")

    assert "Container runs in privileged mode" in html
    assert '<span class="sev-badge sev-critical">critical</span>' in html
    assert "OWASP #3" in html and "CIS 5.5" in html
    assert "2 failing subjects" in html
    assert "payments-api" in html
    assert "<code>HostConfig.Privileged = true</code>" in html
    assert "<code>HostConfig.NanoCpus = 0</code>" in html
    assert "Recreate the container without --privileged." in html
    assert "privileged: false" in html  # the compose snippet
    assert 'data-copy-target="snippet-1-1"' in html
    assert '<code id="snippet-1-1">--privileged=false</code>' in html
    # Critical before low; the resolved finding is not shown.
    assert html.index("CTR-PRIVILEGED") < html.index("CTR-CPU-LIMIT")
    assert "CTR-USER" not in html
    assert '<span class="grade grade-big grade-d">D</span>' in html


def test_french_titles_and_remediation_follow_the_active_language():
    host = HostFactory()
    FindingFactory(host=host, rule_id="CTR-PRIVILEGED")

    with translation.override("fr"):
        group = reports.failing_rules(host)[0]
        assert group.title == "Le conteneur s'exécute en mode privilégié"
        assert group.remediation_text.startswith("Recréez le conteneur")
    assert reports.failing_rules(host)[0].title == "Container runs in privileged mode"


def test_remediation_is_rendered_once_per_rule_and_language_not_mixed(user_client: Client):
    # "How to fix" is kept in the cache per rule, language and position (its snippet ids):
    # the French page must not get the English text kept by the page before it.
    host = HostFactory(name="fixes")
    HostPostureFactory(host=host)
    FindingFactory(host=host, rule_id="CTR-PRIVILEGED")
    other = HostFactory(name="fixes2")
    HostPostureFactory(host=other)
    FindingFactory(host=other, rule_id="CTR-PRIVILEGED")

    english = page(user_client, "fixes")
    french = user_client.get("/hosts/fixes2/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()

    assert "Recreate the container without --privileged." in english
    assert "Recréez le conteneur" in french
    assert "Recreate the container without --privileged." not in french
    assert '<code id="snippet-1-1">--privileged=false</code>' in french


def test_failed_last_scan_shows_error_box_and_keeps_last_good_score(user_client: Client):
    host = HostFactory(name="flaky", endpoint="tcp://flaky.example.org:2376")
    good_at = timezone.now() - timedelta(hours=3)
    posture = HostPostureFactory(host=host, score=83, grade="B", last_success_at=good_at)
    FindingFactory(host=host)
    failed = ScanRunFactory(
        host=host,
        failed=True,
        error_class="tls_verify",
        error_detail="certificate verify failed: <b>self signed</b>",
    )
    posture.last_scan = failed
    posture.last_error_class = "tls_verify"
    posture.last_attempt_at = timezone.now()
    posture.save()

    html = page(user_client, "flaky")

    assert "The last scan failed: TLS verification failed" in html
    assert "was not signed by the CA stored for this host" in html  # ErrorClass.advice
    assert "certificate verify failed: &lt;b&gt;self signed&lt;/b&gt;" in html
    assert "<b>self signed</b>" not in html
    assert "last good picture, as of" in html
    assert '<div class="score-big">83' in html
    assert "Container runs in privileged mode" in html


def test_first_scan_failed_says_nothing_succeeded_yet(user_client: Client):
    host = HostFactory(name="newbie")
    failed = ScanRunFactory(host=host, failed=True)
    HostPostureFactory(
        host=host,
        current_scan=None,
        last_scan=failed,
        score=None,
        grade="",
        last_success_at=None,
        last_attempt_at=timezone.now(),
        last_error_class="unreachable",
    )

    html = page(user_client, "newbie")

    assert "The last scan failed: Host unreachable" in html
    assert "No scan of this host has succeeded yet." in html
    assert "No score yet" in html


def test_never_scanned_host_page(user_client: Client):
    HostFactory(name="fresh")

    html = page(user_client, "fresh")

    assert "Never scanned" in html
    assert "No scan yet." in html


def test_not_assessed_rules_and_coverage(user_client: Client):
    host = HostFactory(name="partial")
    HostPostureFactory(
        host=host,
        rule_summary={
            "CTR-PRIVILEGED": {"pass": 3, "fail": 0, "na": 0, "unknown": 0, "reasons": []},
            "CTR-APPARMOR": {
                "pass": 0,
                "fail": 0,
                "na": 0,
                "unknown": 3,
                "reasons": ["the daemon's /info SecurityOptions are not available"],
            },
            "CTR-USER": {"pass": 1, "fail": 1, "na": 0, "unknown": 1, "reasons": ["x"]},
            "DMN-ROOTLESS": {"pass": 0, "fail": 0, "na": 1, "unknown": 0, "reasons": []},
        },
    )

    html = page(user_client, "partial")

    assert "Not assessed" in html
    assert "<code>CTR-APPARMOR</code>" in html
    assert "SecurityOptions are not available" in html
    assert "<code>CTR-USER</code>" not in html  # decided for some subjects
    assert "2 of 3 (67%)" in html


def test_scan_history_lists_the_last_twenty_runs(user_client: Client):
    host = HostFactory(name="busy")
    now = timezone.now()
    for i in range(25):
        ScanRunFactory(host=host, requested_at=now - timedelta(minutes=i), score=i)
    ScanRunFactory(host=host, failed=True, requested_at=now + timedelta(minutes=1))

    html = page(user_client, "busy")

    assert html.count('class="run run-succeeded"') == 19
    assert html.count('class="run run-failed"') == 1
    assert "Host unreachable" in html


def test_hostile_subject_names_and_evidence_render_escaped(user_client: Client):
    host = HostFactory(name="hostile", labels={"owner": '"><img src=x>'})
    HostPostureFactory(host=host)
    FindingFactory(
        host=host,
        subject_name="<script>alert(1)</script>",
        evidence=[{"field": "Config.Labels", "value": "<img src=x onerror=alert(2)>"}],
    )

    html = page(user_client, "hostile")

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html


def test_unknown_host_is_404(user_client: Client):
    assert user_client.get(reverse("host-detail", args=["nope"])).status_code == 404


@pytest.mark.parametrize("error", list(ErrorClass), ids=lambda e: e.value)
def test_every_error_class_reads_as_words_on_host_and_fleet_pages(
    user_client: Client, error: ErrorClass
):
    host = HostFactory(name="h")
    failed = ScanRunFactory(
        host=host, failed=True, error_class=error.value, error_detail="<script>alert(1)</script>"
    )
    HostPostureFactory(
        host=host,
        score=70,
        grade="C",
        last_scan=failed,
        last_error_class=error.value,
        last_attempt_at=timezone.now(),
    )
    html = page(user_client, "h")
    assert error.label in html
    assert "<script>alert(1)</script>" not in html
    fleet = user_client.get(reverse("fleet"))
    assert fleet.status_code == 200
    assert error.label in fleet.content.decode()

"""Rule profiles: a team turns a rule off or re-grades it for a scope, with a reason."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from findings.models import Finding, HostPosture
from hosts.models import Host
from lab.fake_engine import FakeEngine
from policy import profiles
from policy.models import RuleOverride
from rules import Severity
from scans import services
from scans.transports import Limits
from tests.factories import HostFactory, UserFactory
from tests.scans.fake import responses

pytestmark = pytest.mark.django_db


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    fake = FakeEngine(
        Path(f"/tmp/pst-fake-{time.monotonic_ns()}.sock"), responses(Privileged=True)
    ).start()
    yield fake
    fake.stop()


def scan(host: Host) -> None:
    run, _ = services.request_scan(host, enqueue=False)
    services.run_scan(run.pk, Limits(deadline=5))


def test_host_override_beats_label_and_strictest_label_wins() -> None:
    host = HostFactory(labels={"env": "dev", "team": "web"})
    RuleOverride.objects.create(
        rule_id="CTR-USER", label_key="env", label_value="dev", action="disable", reason="dev boxes"
    )
    RuleOverride.objects.create(
        rule_id="CTR-USER",
        label_key="team",
        label_value="web",
        action="severity",
        severity=int(Severity.LOW),
        reason="web",
    )
    RuleOverride.objects.create(
        rule_id="CTR-PRIVILEGED",
        label_key="env",
        label_value="dev",
        action="disable",
        reason="dev boxes",
    )
    RuleOverride.objects.create(
        rule_id="CTR-PRIVILEGED",
        host=host,
        action="severity",
        severity=int(Severity.HIGH),
        reason="this one host",
    )
    RuleOverride.objects.create(
        rule_id="CTR-CAP-ADD",
        label_key="env",
        label_value="prod",
        action="disable",
        reason="not this host's label",
    )
    eff = profiles.effective(host)
    assert not eff["CTR-USER"].disabled and eff["CTR-USER"].severity is Severity.LOW
    assert not eff["CTR-PRIVILEGED"].disabled
    assert eff["CTR-PRIVILEGED"].severity is Severity.HIGH
    assert "CTR-CAP-ADD" not in eff


def test_turned_off_rule_becomes_na_with_reason_and_resolves(engine: FakeEngine) -> None:
    host = Host.objects.create(name="dev-1", endpoint=engine.url, labels={"env": "dev"})
    scan(host)
    assert Finding.objects.open().filter(host=host, rule_id="CTR-PRIVILEGED").exists()
    before = HostPosture.objects.get(host=host).score
    RuleOverride.objects.create(
        rule_id="CTR-PRIVILEGED",
        label_key="env",
        label_value="dev",
        action="disable",
        reason="CI runners need it",
    )
    scan(host)
    posture = HostPosture.objects.get(host=host)
    entry = posture.rule_summary["CTR-PRIVILEGED"]
    assert entry["na"] == 1 and entry["fail"] == 0
    assert not Finding.objects.open().filter(host=host, rule_id="CTR-PRIVILEGED").exists()
    assert posture.score > before


def test_regraded_rule_changes_finding_severity_and_score(engine: FakeEngine) -> None:
    host = Host.objects.create(name="dev-2", endpoint=engine.url)
    scan(host)
    critical_score = HostPosture.objects.get(host=host).score
    RuleOverride.objects.create(
        rule_id="CTR-PRIVILEGED",
        host=host,
        action="severity",
        severity=int(Severity.LOW),
        reason="sandboxed VM",
    )
    Finding.objects.all().delete()
    scan(host)
    finding = Finding.objects.open().get(host=host, rule_id="CTR-PRIVILEGED")
    assert finding.severity == Severity.LOW
    assert HostPosture.objects.get(host=host).score > critical_score


def test_profiles_page_adds_lists_and_removes(client: Client) -> None:
    client.force_login(UserFactory(username="maya"))
    HostFactory(name="web-1")
    response = client.post(
        reverse("profiles"),
        {
            "rule_id": "CTR-READONLY-ROOTFS",
            "label": "env=dev",
            "action": "disable",
            "reason": "<b>legacy</b> app writes to /var",
        },
    )
    assert response.status_code == 302
    override = RuleOverride.objects.get()
    assert (override.label_key, override.label_value, override.created_by) == ("env", "dev", "maya")
    html = client.get(reverse("profiles")).content.decode()
    assert "CTR-READONLY-ROOTFS" in html and "&lt;b&gt;legacy&lt;/b&gt;" in html
    client.post(reverse("profile-delete", args=[override.pk]))
    assert not RuleOverride.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"host": "web-1", "label": "env=dev"}, "either a host or a label"),
        ({}, "either a host or a label"),
        ({"label": "nonsense"}, "key=value"),
        ({"host": "web-1", "action": "severity"}, "Pick the new severity"),
        ({"host": "web-1", "reason": "   "}, "This field is required"),
    ],
)
def test_bad_overrides_are_refused(client: Client, data: dict[str, str], message: str) -> None:
    client.force_login(UserFactory())
    HostFactory(name="web-1")
    form = {"rule_id": "CTR-USER", "action": "disable", "reason": "because", **data}
    response = client.post(reverse("profiles"), form)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not RuleOverride.objects.exists()


def test_host_page_shows_the_profile_with_its_reasons(client: Client) -> None:
    client.force_login(UserFactory())
    host = HostFactory(name="dev-3", labels={"env": "dev"})
    RuleOverride.objects.create(
        rule_id="CTR-USER",
        label_key="env",
        label_value="dev",
        action="disable",
        reason="images we do not build",
    )
    html = client.get(reverse("host-detail", args=[host.name])).content.decode()
    assert "Rule profile" in html and "CTR-USER" in html
    assert "env=dev: images we do not build" in html

"""Every admin page renders for a superuser, and none shows a host's private keys."""

from __future__ import annotations

from typing import Any

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db.models import Model
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from access.models import Team
from accounts.models import Preference
from alerts.models import Event, Notification, Regression, Subscription
from findings.models import Container, HostPosture, Image
from hosts.models import Host
from policy.models import RuleOverride
from tests.factories import (
    FindingFactory,
    HostFactory,
    HostPostureFactory,
    RiskExceptionFactory,
    ScoreSampleFactory,
    UserFactory,
)
from trends.models import ReportSubscription
from vulndb.models import Advisory, AffectedPackage, DataImport, EpssScore, KevEntry
from vulns.models import (
    ImageInventory,
    ImageVulnerability,
    Package,
    VulnDecision,
    VulnOccurrence,
)

pytestmark = pytest.mark.django_db

MODELS = sorted(admin.site._registry, key=lambda m: m._meta.label)


def _url(model: type[Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def superuser_client(client: Client, settings: Any) -> Client:
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def one_of_each(db: None) -> None:
    """A row of every model the admin shows, related the way the product relates them."""
    team = Team.objects.create(name="Payments", label="pay")
    user = UserFactory(username="ops", role="operator", role__teams=[team])
    Group.objects.create(name="auditors")
    Preference.objects.create(user=user, language="fr")
    posture = HostPostureFactory(host=HostFactory(name="pay-1"))
    host, scan = posture.host, posture.current_scan
    finding = FindingFactory(host=host, opened_scan=scan)
    ScoreSampleFactory(host=host, scan=scan)
    Container.objects.create(host=host, name="web", digest="d", container_id="c" * 64)
    Image.objects.create(host=host, name="busybox:1", digest="d", image_id="sha256:" + "b" * 64)
    RiskExceptionFactory(host=host)
    RuleOverride.objects.create(rule_id="IMG-LATEST-TAG", host=host, action="disable", reason="-")
    Subscription.objects.create(user=user, scope=Subscription.Scope.ALL)
    regression = Regression.objects.create(
        host=host, kind="finding", key="subject:1", severity=4, finding=finding, opened_scan=scan
    )
    event = Event.objects.create(regression=regression, phase=Event.Phase.OPENED)
    Notification.objects.create(user=user, event=event, kind="regression", to=user.email)
    ReportSubscription.objects.create(user=user, period="week")
    now = timezone.now()
    advisory = Advisory.objects.create(id="DSA-5514-1", modified=now, group="CVE-2023-4911")
    AffectedPackage.objects.create(advisory=advisory, ecosystem="Debian:12", name="glibc")
    KevEntry.objects.create(cve="CVE-2023-4911", date_added=now.date())
    EpssScore.objects.create(cve="CVE-2023-4911", score=0.4, percentile=0.9, scored_on=now.date())
    DataImport.objects.create(kind="osv", label="all.zip")
    inventory = ImageInventory.objects.create(key="k" * 64, status="assessed", read_from=host)
    Package.objects.create(inventory=inventory, ecosystem="Debian:12", name="libc6", version="1")
    ImageVulnerability.objects.create(
        inventory=inventory,
        advisory_id="DSA-5514-1",
        vuln="CVE-2023-4911",
        package_name="libc6",
        installed_version="1",
    )
    VulnDecision.objects.create(
        vuln="CVE-2023-4911",
        state="accepted",
        scope="fleet",
        reason="-",
        owner="ops",
        created_by=user,
    )
    VulnOccurrence.objects.create(
        host=host, vuln="CVE-2023-4911", package_name="libc6", opened_at=now
    )
    # Accounts: a failed sign-in as django-axes keeps it, and an enrolled authenticator.
    tried = {"username": "ops", "ip_address": "192.0.2.1", "user_agent": "-", "path_info": "/"}
    AccessAttempt.objects.create(**tried, get_data="", post_data="", failures_since_start=1)
    AccessFailureLog.objects.create(**tried, locked_out=False)
    TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)


@pytest.mark.usefixtures("one_of_each")
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_changelist_and_change_page_render(superuser_client: Client, model: type[Model]):
    instance = model._default_manager.first()
    assert instance is not None, f"one_of_each makes no {model._meta.label}: add one"

    changelist = superuser_client.get(_url(model, "changelist"))
    change = superuser_client.get(_url(model, "change", instance.pk))

    assert changelist.status_code == 200
    # The row is listed: the page did not just render an empty table.
    assert _url(model, "change", instance.pk).encode() in changelist.content
    assert change.status_code == 200
    # The form, not an error page; a read-only model (HostPosture: findings.store is the
    # picture's one writer) gets Django's view page instead.
    assert b'name="_save"' in change.content or b"| View " in change.content


def test_host_change_page_shows_neither_the_keys_nor_their_ciphertext(
    superuser_client: Client,
):
    host, tls = HostFactory.with_tls_credentials(name="tls-1")
    ssh_host, ssh = HostFactory.with_ssh_credentials(name="ssh-1")
    stored = Host.objects.get(pk=host.pk)
    assert stored.tls_client_key_enc and stored.tls_client_key_enc not in tls.client_key

    pages = [
        superuser_client.get(_url(Host, "change", host.pk)).content.decode(),
        superuser_client.get(_url(Host, "change", ssh_host.pk)).content.decode(),
        superuser_client.get(_url(Host, "changelist")).content.decode(),
    ]

    ciphertexts = {
        "TLS key ciphertext": stored.tls_client_key_enc,
        "SSH key ciphertext": Host.objects.get(pk=ssh_host.pk).ssh_private_key_enc,
    }
    key_lines = _key_lines(tls.client_key) + _key_lines(ssh.private_key)
    for page in pages:
        for what, ciphertext in ciphertexts.items():
            assert ciphertext[-32:] not in page, f"{what} shown"
        assert [line for line in key_lines if line in page] == [], "a private key is shown"
        assert "PRIVATE KEY" not in page
        assert "tls_client_key_enc" not in page and "ssh_private_key_enc" not in page
    # The certificate, which is public, is there: the page shows the host's real fields.
    assert tls.client_cert.splitlines()[1] in pages[0]


def _key_lines(pem: str) -> list[str]:
    """The base64 lines of a PEM key, without its armour (the first ones are the same for
    every key of a type, so each line is looked for, not a prefix)."""
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


def test_the_picture_cannot_be_edited_in_the_admin(superuser_client: Client):
    # findings.store is the one writer of a host's picture and of its share of the rule
    # pages' totals: an admin edit of rule_summary would put the two out of step.
    posture = HostPostureFactory(host=HostFactory(name="pay-2"), rule_summary={})
    url = _url(HostPosture, "change", posture.pk)
    response = superuser_client.post(url, {"rule_summary": '{"CTR-PRIVILEGED": {"fail": 9}}'})
    assert response.status_code == 403
    posture.refresh_from_db()
    assert posture.rule_summary == {}

"""Four eyes: who may approve a risk exception or a rule override, that only approved ones
apply to scoring, that approving rescans like creating did, and the audit trail of each step."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from policy import exceptions as services
from policy import profiles
from policy.models import Review, RiskException, RuleOverride
from rules import Outcome
from scans.models import ScanRun
from tests.factories import FindingFactory, HostFactory, RiskExceptionFactory
from tests.policy.exception_helpers import CONTAINER_RULE, evaluation, facts
from tests.vulns.roles import make_accounts, signed_in

pytestmark = pytest.mark.django_db
EXCEPTIONS, PROFILES = "/exceptions/", "/profiles/"


@pytest.fixture
def accounts() -> dict[str, Any]:
    return make_accounts()


@pytest.fixture
def four_eyes(settings: Any) -> None:
    settings.POSTURE_FOUR_EYES = True


@pytest.fixture
def host() -> Any:
    """A host with a failing container rule on payments-api: what an exception covers."""
    host = HostFactory(name="pay-1", labels={"team": "pay"})
    FindingFactory(host=host, rule_id=CONTAINER_RULE, subject_name="payments-api")
    return host


def exception_form(**changes: Any) -> dict[str, Any]:
    data = {
        "rule_id": CONTAINER_RULE,
        "host": "pay-1",
        "label": "",
        "container_pattern": "payments-*",
        "image_pattern": "",
        "reason": "legacy stack until Q3",
        "owner": "ops@example.org",
        "expires_on": (date.today() + timedelta(days=60)).isoformat(),
    }
    data.update(changes)
    return data


def accepted(host: Any) -> bool:
    """Whether the exceptions in force accept the host's failing privileged container."""
    [ev] = services.apply([evaluation(CONTAINER_RULE)], host, timezone.now(), facts())
    assert ev.outcome is Outcome.FAIL  # accepted stays a failure, out of the score
    return ev.accepted_by is not None


def actions(prefix: str) -> list[tuple[str, str]]:
    rows = AuditEvent.objects.filter(action__startswith=prefix).order_by("pk")
    return [(e.action, e.actor_name) for e in rows]


def rescans() -> list[str]:
    return [s.host.name for s in ScanRun.objects.filter(trigger=ScanRun.Trigger.EXCEPTION)]


@pytest.mark.usefixtures("four_eyes")
def test_self_approval_refused_another_approver_accepted(
    accounts: dict[str, Any], host: Any, django_capture_on_commit_callbacks: Any
) -> None:
    sam, sol = signed_in(accounts["security"]), signed_in(accounts["security_b"])
    response = sam.post(EXCEPTIONS, exception_form(), HTTP_HX_REQUEST="true")
    assert "It applies once an approver approves it" in response.content.decode()
    exc = RiskException.objects.get()
    assert exc.status == Review.PENDING and exc.requested_by == accounts["security"]
    # Pending: not applied, nothing rescanned, shown in its own group with the buttons.
    assert not accepted(host) and rescans() == []
    page = sam.get(EXCEPTIONS).content.decode()
    assert f'id="pending-{exc.pk}"' in page and "pending approval" in page
    assert reverse("exception-approve", args=[exc.pk]) in page

    approve = reverse("exception-approve", args=[exc.pk])
    refused = sam.post(approve, HTTP_HX_REQUEST="true")
    assert refused.status_code == 200
    assert "another approver must approve it" in refused.content.decode()
    exc.refresh_from_db()
    assert exc.status == Review.PENDING and exc.approved_by is None

    with django_capture_on_commit_callbacks(execute=False):
        assert sol.post(approve).status_code == 302
    exc.refresh_from_db()
    assert exc.status == Review.APPROVED and exc.approved_by == accounts["security_b"]
    assert exc.approved_at is not None
    assert accepted(host) and rescans() == ["pay-1"]
    page = sol.get(EXCEPTIONS).content.decode()
    assert '<span class="requested-by">sam</span>' in page
    assert '<span class="approved-by">sol</span>' in page
    # Approved once: a second click changes nothing and queues nothing.
    ScanRun.objects.update(status=ScanRun.Status.SUCCEEDED)
    assert sol.post(approve).status_code == 302 and len(rescans()) == 1
    assert actions("exception.") == [
        ("exception.requested", "sam"),
        ("exception.approved", "sol"),
    ]
    approved = AuditEvent.objects.get(action="exception.approved")
    assert approved.target_id == str(exc.pk) and approved.details["reason"] == exc.reason


def test_without_four_eyes_an_approver_applies_at_once(
    accounts: dict[str, Any], host: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        response = signed_in(accounts["security"]).post(EXCEPTIONS, exception_form())
    assert response.status_code == 302
    exc = RiskException.objects.get()
    assert exc.status == Review.APPROVED and exc.approved_by == accounts["security"]
    assert accepted(host) and rescans() == ["pay-1"]
    assert actions("exception.") == [
        ("exception.requested", "sam"),
        ("exception.approved", "sam"),
    ]


def test_an_operator_request_always_waits(accounts: dict[str, Any], host: Any) -> None:
    operator = signed_in(accounts["operator"])
    assert operator.post(EXCEPTIONS, exception_form()).status_code == 302
    exc = RiskException.objects.get()
    assert exc.status == Review.PENDING and not accepted(host) and rescans() == []
    assert "Ask for approval" in operator.get(EXCEPTIONS).content.decode()
    # Rejected: never applies, shown as rejected, in the trail.
    security = signed_in(accounts["security"])
    assert security.post(reverse("exception-reject", args=[exc.pk])).status_code == 302
    exc.refresh_from_db()
    assert exc.status == Review.REJECTED and exc.rejected_by == accounts["security"]
    assert exc.current_state == "rejected" and not accepted(host)
    # A rejected one cannot be approved afterwards.
    assert security.post(reverse("exception-approve", args=[exc.pk])).status_code == 302
    exc.refresh_from_db()
    assert exc.status == Review.REJECTED
    assert "sam" in security.get(EXCEPTIONS, {"status": "rejected"}).content.decode()
    assert actions("exception.") == [
        ("exception.requested", "otto"),
        ("exception.rejected", "sam"),
    ]


def test_pending_ones_count_nowhere(host: Any) -> None:
    """Every reader of exceptions in force ignores a pending one (the page's filters too)."""
    RiskExceptionFactory(host=host, container_pattern="payments-*", status=Review.PENDING)
    now = timezone.now()
    assert not services.in_force(host, now) and not accepted(host)
    assert not RiskException.objects.active(now).exists()
    assert not RiskException.objects.expiring(now, days=400).exists()
    assert RiskException.objects.pending(now).count() == 1


def test_revoke_and_expiry_are_audited(
    accounts: dict[str, Any], host: Any, django_capture_on_commit_callbacks: Any
) -> None:
    revoked = RiskExceptionFactory(host=host, reason="to revoke")
    ending = RiskExceptionFactory(host=host, days=-1, reason="ended")
    RiskExceptionFactory(host=host, days=-1, status=Review.PENDING, reason="never approved")
    client = signed_in(accounts["security"])
    assert client.post(reverse("exception-revoke", args=[revoked.pk])).status_code == 302
    with django_capture_on_commit_callbacks(execute=False):
        services.queue_expired()
    assert actions("exception.") == [("exception.revoked", "sam"), ("exception.expired", "")]
    expired = AuditEvent.objects.get(action="exception.expired")
    assert expired.source == "beat" and expired.target_id == str(ending.pk)


@pytest.mark.usefixtures("four_eyes")
def test_override_four_eyes(accounts: dict[str, Any], host: Any) -> None:
    sam, sol = signed_in(accounts["security"]), signed_in(accounts["security_b"])
    form = {"rule_id": CONTAINER_RULE, "host": "pay-1", "label": "", "action": "disable"}
    assert sam.post(PROFILES, {**form, "severity": "", "reason": "lab"}).status_code == 302
    override = RuleOverride.objects.get()
    assert override.status == Review.PENDING and override.requested_by == accounts["security"]
    assert profiles.effective(host) == {}  # pending: the rule still counts
    page = sam.get(PROFILES).content.decode()
    assert "Pending approval" in page and "pending approval" in page
    approve = reverse("override-approve", args=[override.pk])
    refused = sam.post(approve, follow=True).content.decode()
    assert "another approver must approve it" in refused
    override.refresh_from_db()
    assert override.status == Review.PENDING
    assert sol.post(approve).status_code == 302
    override.refresh_from_db()
    assert override.status == Review.APPROVED and override.approved_by == accounts["security_b"]
    assert profiles.effective(host)[CONTAINER_RULE].disabled
    [ev] = profiles.apply([evaluation(CONTAINER_RULE)], profiles.effective(host))
    assert ev.outcome is Outcome.NOT_APPLICABLE
    assert sol.post(reverse("profile-delete", args=[override.pk])).status_code == 302
    assert not RuleOverride.objects.exists()
    assert actions("override.") + actions("profile.") == [
        ("override.created", "sam"),
        ("override.approved", "sol"),
        ("override.deleted", "sol"),
        ("profile.deleted", "sol"),
    ]


def test_override_without_four_eyes_applies_at_once(accounts: dict[str, Any], host: Any) -> None:
    form = {"rule_id": CONTAINER_RULE, "host": "", "label": "team=pay", "action": "disable"}
    client = signed_in(accounts["security"])
    for reason in ("first", "second"):
        assert client.post(PROFILES, {**form, "severity": "", "reason": reason}).status_code == 302
    first, second = RuleOverride.objects.order_by("pk")
    assert first.status == Review.APPROVED and first.approved_by == accounts["security"]
    assert CONTAINER_RULE in profiles.effective(host)
    client.post(reverse("profile-delete", args=[first.pk]))
    # Another override still names team=pay: its profile is not gone yet.
    assert not AuditEvent.objects.filter(action="profile.deleted").exists()
    client.post(reverse("profile-delete", args=[second.pk]))
    assert AuditEvent.objects.get(action="profile.deleted").details == {"scope": "team=pay"}

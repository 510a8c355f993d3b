"""Roles and scope on /exceptions/ and /profiles/: what each account lists, what it may ask
for or change (403 otherwise), and that a forged host of another team is refused and never
saved."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.urls import reverse

from policy.models import Review, RiskException, RuleOverride
from tests.factories import HostFactory, RiskExceptionFactory
from tests.policy.exception_helpers import CONTAINER_RULE
from tests.vulns.roles import make_accounts, signed_in

pytestmark = pytest.mark.django_db
EXCEPTIONS, PROFILES = "/exceptions/", "/profiles/"


@pytest.fixture
def accounts() -> dict[str, Any]:
    return make_accounts()


@pytest.fixture
def hosts() -> dict[str, Any]:
    return {
        "pay": HostFactory(name="pay-1", labels={"team": "pay", "env": "prod"}),
        "web": HostFactory(name="web-1", labels={"team": "web", "env": "dev"}),
    }


def exception_form(**changes: Any) -> dict[str, Any]:
    data = {
        "rule_id": CONTAINER_RULE,
        "host": "",
        "label": "",
        "container_pattern": "",
        "image_pattern": "",
        "reason": "legacy stack until Q3",
        "owner": "ops@example.org",
        "expires_on": (date.today() + timedelta(days=60)).isoformat(),
    }
    data.update(changes)
    return data


def override_form(**changes: Any) -> dict[str, Any]:
    data = {"rule_id": CONTAINER_RULE, "host": "", "label": "", "action": "disable"}
    data.update({"severity": "", "reason": "lab hosts", **changes})
    return data


@pytest.fixture
def exceptions(hosts: dict[str, Any]) -> None:
    RiskExceptionFactory(host=hosts["pay"], reason="on-pay-host")
    RiskExceptionFactory(host=hosts["web"], reason="on-web-host")
    RiskExceptionFactory(label_key="team", label_value="pay", reason="pay-label")
    RiskExceptionFactory(label_key="team", label_value="web", reason="web-label")
    RiskExceptionFactory(label_key="env", label_value="prod", reason="prod-label")
    RiskExceptionFactory(container_pattern="legacy-*", reason="pattern-only")


ALL = {"on-pay-host", "on-web-host", "pay-label", "web-label", "prod-label", "pattern-only"}


@pytest.mark.parametrize(
    ("role", "seen"),
    [
        ("admin", ALL),
        ("security", ALL),
        ("viewer", ALL),
        ("operator", {"on-pay-host", "pay-label", "prod-label", "pattern-only"}),
        ("viewer_web", {"on-web-host", "web-label", "pattern-only"}),
    ],
)
@pytest.mark.usefixtures("exceptions")
def test_exceptions_listed_in_scope(accounts: dict[str, Any], role: str, seen: set[str]) -> None:
    response = signed_in(accounts[role]).get(EXCEPTIONS)
    assert response.status_code == 200
    assert {r for r in ALL if r in response.content.decode()} == seen


@pytest.mark.parametrize("role", ["viewer", "viewer_web"])
@pytest.mark.usefixtures("exceptions")
def test_viewers_read_but_never_write(accounts: dict[str, Any], role: str) -> None:
    client = signed_in(accounts[role])
    page = client.get(EXCEPTIONS).content.decode()
    assert "Accept a risk" not in page and ">Revoke</button>" not in page
    exc = RiskException.objects.get(reason="pattern-only")
    assert client.post(EXCEPTIONS, exception_form(host="pay-1")).status_code == 403
    for name in ("exception-revoke", "exception-approve", "exception-reject"):
        assert client.post(reverse(name, args=[exc.pk])).status_code == 403, name
    assert client.get(PROFILES).status_code == 200
    assert client.post(PROFILES, override_form(host="pay-1")).status_code == 403
    override = RuleOverride.objects.create(
        rule_id=CONTAINER_RULE, label_key="team", label_value="web", action="disable", reason="-"
    )
    for name in ("profile-delete", "override-approve", "override-reject"):
        assert client.post(reverse(name, args=[override.pk])).status_code == 403, name
    assert RiskException.objects.count() == 6 and RuleOverride.objects.count() == 1
    assert not RiskException.objects.filter(revoked_at__isnull=False).exists()


def test_operator_asks_on_its_hosts_only(accounts: dict[str, Any], hosts: dict[str, Any]) -> None:
    client = signed_in(accounts["operator"])
    page = client.get(EXCEPTIONS).content.decode()
    # The host picker offers its team's hosts only.
    assert '<option value="pay-1">' in page and '<option value="web-1">' not in page
    # A forged name of another team's host: the form's error, nothing saved.
    forged = client.post(EXCEPTIONS, exception_form(host="web-1"), HTTP_HX_REQUEST="true")
    # 422: refused, shown in place (htmx swaps it: base.html's htmx-config).
    assert forged.status_code == 422 and "No host of that name" in forged.content.decode()
    # A label or pattern reaching other teams' hosts is not an operator's to ask for.
    for wide in ({"label": "env=prod"}, {"label": "team=web"}, {"container_pattern": "legacy-*"}):
        refused = client.post(EXCEPTIONS, exception_form(**wide), HTTP_HX_REQUEST="true")
        assert "your team" in refused.content.decode(), wide
    assert not RiskException.objects.exists()
    # Its own host, or its team's label: asked for, pending an approver.
    assert client.post(EXCEPTIONS, exception_form(host="pay-1")).status_code == 302
    assert client.post(EXCEPTIONS, exception_form(label="team=pay")).status_code == 302
    assert set(RiskException.objects.values_list("status", flat=True)) == {Review.PENDING}
    exc = RiskException.objects.first()
    assert exc is not None and exc.requested_by == accounts["operator"]
    # Approving and revoking are not an operator's.
    for name in ("exception-approve", "exception-reject", "exception-revoke"):
        assert client.post(reverse(name, args=[exc.pk])).status_code == 403, name
    assert client.post(PROFILES, override_form(host="pay-1")).status_code == 403
    assert "pending approval" in client.get(EXCEPTIONS).content.decode()


def test_a_team_scoped_approver_acts_on_its_team_only(
    accounts: dict[str, Any], hosts: dict[str, Any]
) -> None:
    on_pay = RiskExceptionFactory(host=hosts["pay"], status=Review.PENDING, reason="pay's")
    fleet_wide = RiskExceptionFactory(container_pattern="legacy-*", status=Review.PENDING)
    on_web = RiskExceptionFactory(host=hosts["web"], status=Review.PENDING)
    client = signed_in(accounts["security_web"])
    assert "pay&#x27;s" not in client.get(EXCEPTIONS).content.decode()
    assert client.post(reverse("exception-approve", args=[on_pay.pk])).status_code == 404
    assert client.post(reverse("exception-approve", args=[fleet_wide.pk])).status_code == 403
    assert client.post(reverse("exception-approve", args=[on_web.pk])).status_code == 302
    statuses = dict(RiskException.objects.values_list("pk", "status"))
    assert statuses == {
        on_pay.pk: Review.PENDING,
        fleet_wide.pk: Review.PENDING,
        on_web.pk: Review.APPROVED,
    }
    # Overrides: its picker and its targets are its team's too.
    forged = client.post(PROFILES, override_form(host="pay-1"))
    assert forged.status_code == 200 and "No host of that name" in forged.content.decode()
    assert "your team" in client.post(PROFILES, override_form(label="env=dev")).content.decode()
    assert client.post(PROFILES, override_form(label="team=web")).status_code == 302
    assert list(RuleOverride.objects.values_list("label_value", flat=True)) == ["web"]


def test_profiles_listed_in_scope(accounts: dict[str, Any], hosts: dict[str, Any]) -> None:
    for host, reason in ((hosts["pay"], "pay-host"), (hosts["web"], "web-host")):
        RuleOverride.objects.create(
            rule_id=CONTAINER_RULE, host=host, action="disable", reason=reason
        )
    RuleOverride.objects.create(
        rule_id=CONTAINER_RULE, label_key="env", label_value="dev", action="disable", reason="dev"
    )

    def seen(role: str) -> set[str]:
        page = signed_in(accounts[role]).get(PROFILES).content.decode()
        return {r for r in ("pay-host", "web-host", "dev") if f"<td>{r}</td>" in page}

    assert seen("viewer") == {"pay-host", "web-host", "dev"}
    assert seen("operator") == {"pay-host"}
    assert seen("viewer_web") == {"web-host", "dev"}

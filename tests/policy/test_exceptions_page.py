"""/exceptions/: the list with its filters, the create form, revoke, and what guards them."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any
from unittest import mock

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from findings.models import Finding
from policy.models import RiskException
from scans.models import ScanRun
from tests.factories import FindingFactory, HostFactory, RiskExceptionFactory, UserFactory
from tests.policy.exception_helpers import CONTAINER_RULE, daemon_rule

pytestmark = pytest.mark.django_db
URL = "/exceptions/"


@pytest.fixture
def client(client: Client) -> Client:
    client.force_login(UserFactory(username="maya"))
    return client


def form(**changes: Any) -> dict[str, Any]:
    data = {
        "rule_id": CONTAINER_RULE,
        "host": "",
        "label": "",
        "container_pattern": "payments-*",
        "image_pattern": "",
        "reason": "legacy stack until Q3",
        "owner": "payments@example.org",
        "expires_on": (date.today() + timedelta(days=60)).isoformat(),
    }
    data.update(changes)
    return data


def test_url_names_the_page() -> None:
    assert reverse("exceptions") == URL


def test_login_is_required(db: None) -> None:
    anonymous = Client()
    response = anonymous.get(URL)
    assert response.status_code == 302 and "/login/" in response["Location"]
    response = anonymous.post(URL, form())
    assert response.status_code == 302
    assert not RiskException.objects.exists()


def test_posts_need_the_csrf_token() -> None:
    guarded = Client(enforce_csrf_checks=True)
    guarded.force_login(UserFactory())
    assert guarded.post(URL, form()).status_code == 403
    exc = RiskExceptionFactory(host=HostFactory())
    assert guarded.post(reverse("exception-revoke", args=[exc.pk])).status_code == 403
    exc.refresh_from_db()
    assert exc.revoked_at is None and not RiskException.objects.exclude(pk=exc.pk).exists()


def test_filters_active_expiring_expired_revoked(client: Client) -> None:
    host = HostFactory()
    RiskExceptionFactory(host=host, days=90, reason="far-away", created_by="alice")
    RiskExceptionFactory(host=host, days=10, reason="soon-ending")
    RiskExceptionFactory(host=host, days=-2, reason="already-over")
    revoked = RiskExceptionFactory(host=host, days=90, reason="taken-back")
    revoked.revoked_at, revoked.revoked_by = timezone.now(), "omar"
    revoked.save()
    shown = {
        status: {
            r
            for r in ("far-away", "soon-ending", "already-over", "taken-back")
            if r in client.get(URL, {"status": status}).content.decode()
        }
        for status in ("all", "active", "expiring", "expired", "revoked")
    }
    assert shown["all"] == {"far-away", "soon-ending", "already-over", "taken-back"}
    assert shown["active"] == {"far-away", "soon-ending"}
    assert shown["expiring"] == {"soon-ending"}
    assert shown["expired"] == {"already-over"}
    assert shown["revoked"] == {"taken-back"}
    page = client.get(URL).content.decode()
    assert 'hx-push-url="true"' in page and f'href="{URL}?status=expired"' in page
    # Who created and who revoked them: not the signed-in user, whom the header shows.
    assert '<span class="requested-by">alice</span>' in page
    assert "omar" in page and "omar" not in client.get(URL, {"status": "active"}).content.decode()


def test_htmx_gets_the_panel_only(client: Client) -> None:
    response = client.get(URL, {"status": "active"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="exceptions-panel"' in body and "<html" not in body


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"container_pattern": ""}, "Choose a scope"),
        ({"container_pattern": "*"}, "wildcards only"),
        ({"container_pattern": "pay ments"}, "no spaces"),
        ({"expires_on": date.today().isoformat()}, "after today"),
        ({"expires_on": (date.today() + timedelta(days=400)).isoformat()}, "within a year"),
        ({"reason": "   "}, "This field is required"),
        ({"owner": ""}, "This field is required"),
        ({"label": "env"}, "key=value"),
        ({"host": "no-such-host"}, "No host of that name"),
    ],
)
def test_create_form_refuses(client: Client, changes: dict[str, Any], message: str) -> None:
    response = client.post(URL, form(**changes), HTTP_HX_REQUEST="true")
    assert response.status_code == 422  # base.html's htmx-config swaps it in place
    assert message in response.content.decode()
    assert not RiskException.objects.exists()


def test_pattern_must_fit_the_rule(client: Client) -> None:
    body = client.post(URL, form(rule_id=daemon_rule())).content.decode()
    assert "only applies to a container rule" in body
    assert not RiskException.objects.exists()


def test_star_is_fine_once_limited_to_a_host(client: Client) -> None:
    HostFactory(name="legacy-1")
    response = client.post(URL, form(container_pattern="*", host="legacy-1"))
    assert response.status_code == 302
    exc = RiskException.objects.get()
    assert exc.host is not None and exc.host.name == "legacy-1"
    assert exc.created_by == "maya"
    assert timezone.localtime(exc.expires_at).date() == date.today() + timedelta(days=60)


def test_create_rescans_the_hosts_it_covers(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    covered = HostFactory(name="pay-1", labels={"team": "payments"})
    FindingFactory(host=covered, rule_id=CONTAINER_RULE, subject_name="payments-api")
    other_team = HostFactory(name="web-1", labels={"team": "web"})
    FindingFactory(host=other_team, rule_id=CONTAINER_RULE)
    HostFactory(name="pay-2", labels={"team": "payments"})  # nothing of that rule fails here
    with (
        mock.patch("scans.tasks.scan_host.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(URL, form(label="team=payments"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Exception saved" in response.content.decode()
    scans = ScanRun.objects.filter(trigger=ScanRun.Trigger.EXCEPTION)
    assert [s.host.name for s in scans] == ["pay-1"]
    delay.assert_called_once_with(scans[0].pk)


def test_revoke_once_and_rescan(client: Client, django_capture_on_commit_callbacks: Any) -> None:
    host = HostFactory(name="pay-1")
    exc = RiskExceptionFactory(container_pattern="payments-*")
    FindingFactory(host=host, rule_id=CONTAINER_RULE, accepted=True, exception=exc)
    url = reverse("exception-revoke", args=[exc.pk])
    with (
        mock.patch("scans.tasks.scan_host.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Exception revoked" in response.content.decode()
    exc.refresh_from_db()
    assert exc.revoked_at is not None and exc.revoked_by == "maya"
    assert delay.call_count == 1
    assert ScanRun.objects.get().trigger == ScanRun.Trigger.EXCEPTION
    first = exc.revoked_at
    ScanRun.objects.update(status=ScanRun.Status.SUCCEEDED)
    assert client.post(url).status_code == 302  # no JavaScript: back to the list
    exc.refresh_from_db()
    assert exc.revoked_at == first and ScanRun.objects.count() == 1


def test_revoke_unknown_is_404(client: Client) -> None:
    assert client.post(reverse("exception-revoke", args=[999])).status_code == 404
    # GET is the confirmation page: of an exception the account sees, else 404 too.
    assert client.get(reverse("exception-revoke", args=[999])).status_code == 404


def test_hostile_text_is_escaped(client: Client) -> None:
    host = HostFactory(name="pay-1")
    exc = RiskExceptionFactory(
        host=host,
        reason="<script>alert('r')</script>",
        owner='"><img src=x onerror=alert(1)>',
    )
    FindingFactory(host=host, rule_id=CONTAINER_RULE, accepted=True, exception=exc)
    for url in (URL, reverse("host-detail", args=["pay-1"])):
        body = client.get(url).content.decode()
        assert "<script>alert" not in body and "<img src=x" not in body, url
        assert "&lt;script&gt;alert" in body and "&lt;img src=x" in body, url


def test_host_page_links_to_a_prefilled_form(client: Client) -> None:
    host = HostFactory(name="pay-1")
    FindingFactory(host=host, rule_id=CONTAINER_RULE)
    body = client.get(reverse("host-detail", args=["pay-1"])).content.decode()
    assert f"{URL}?rule_id={CONTAINER_RULE}&amp;host=pay-1" in body
    page = client.get(URL, {"rule_id": CONTAINER_RULE, "host": "pay-1"}).content.decode()
    assert re.search(r'<input type="text" name="host" value="pay-1"', page)
    assert Finding.objects.count() == 1


def test_rule_and_subject_pages_show_the_acceptance(client: Client) -> None:
    host = HostFactory(name="pay-1")
    active = RiskExceptionFactory(
        container_pattern="payments-*", reason="vendor-box", owner="ops-lead"
    )
    FindingFactory(
        host=host,
        rule_id=CONTAINER_RULE,
        subject_name="payments-api",
        accepted=True,
        exception=active,
    )
    ended = RiskExceptionFactory(container_pattern="legacy-*", days=-3, reason="old-deal")
    FindingFactory(host=host, rule_id=CONTAINER_RULE, subject_name="legacy-db", exception=ended)
    until = f"{timezone.localtime(active.expires_at):%Y-%m-%d}"
    expired_on = f"{timezone.localtime(ended.expires_at):%Y-%m-%d}"
    pages = [
        reverse("rule-detail", args=[CONTAINER_RULE]),
        reverse("containers") + "?name=payments-api",
        reverse("host-detail", args=["pay-1"]),
    ]
    for url in pages:
        body = client.get(url).content.decode()
        assert "accepted" in body and "vendor-box" in body and "ops-lead" in body, url
        assert f"until {until}" in body, url
    for url in (pages[0], reverse("containers") + "?name=legacy-db", pages[2]):
        body = client.get(url).content.decode()
        assert f"exception expired on {expired_on}" in body, url

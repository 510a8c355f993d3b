"""Every form of the app, in a real Chromium: submitted once refused and once accepted, and
what a person sees each time — the error next to the field that caused it (or above the
form when it concerns the whole form), then the confirmation or the new row.

One browser context per test, forms grouped by the page they live on. Fields are found by
their name, never by layout, so that the forms can change shape without this test failing
for it. htmx forms answer a refusal with 422 (swapped in place by base.html's
htmx-config); plain forms re-render their page.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Locator, Page, expect

from access.models import Team
from alerts.models import Subscription
from hosts.models import Host
from lab.smtp import LabSmtp
from policy.models import RiskException, RuleOverride
from tests.factories import make_tls_pem
from tests.system.browser.helpers import PASSWORD, log_in, shot
from tests.vulns.factories import InventoryFactory, VulnFactory, place, vulnerability_data
from trends.models import ReportSubscription
from vulns.models import VulnDecision

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "seven quiet lanterns drifting"
VULN = "CVE-2024-3094"


def form_with(page: Page, field: str) -> Locator:
    """The form that holds the input named `field` (forms are told apart by what they ask)."""
    return page.locator("form", has=page.locator(f"[name='{field}']")).first


def error_at(form: Locator, name: str) -> Locator:
    """The error shown in the field that holds the input named `name`."""
    return form.locator(".field", has=form.page.locator(f"[name='{name}']")).first.locator(".error")


def confirmation(page: Page) -> Locator:
    return page.locator(".message-success").first


@pytest.fixture
def root(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_superuser("root", "root@example.org", PASSWORD)


def test_sign_in_and_the_own_account_forms(
    page: Page, live_server, root: User, lab_smtp: LabSmtp
) -> None:
    # Sign in: a wrong password is said above the form, and the form stays.
    page.goto(live_server.url + "/login/")
    page.locator("[name=username]").fill("root")
    page.locator("[name=password]").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".alert-error")).to_contain_text("correct username and password")
    log_in(page, live_server.url, "root")

    # The account: a bad address next to its field, nothing saved; then a good one.
    page.goto(live_server.url + "/account/")
    expect(page.get_by_text("Mails go to root@example.org")).to_be_visible()
    account = form_with(page, "email")
    account.locator("[name=email]").fill("root at example")
    account.get_by_role("button", name="Save").click()
    account = form_with(page, "email")
    expect(error_at(account, "email")).to_contain_text("valid email address")
    expect(account.locator("[name=email]")).to_be_focused()
    expect(page.get_by_text("Mails go to root@example.org")).to_be_visible()
    account.locator("[name=email]").fill("maya@example.org")
    account.get_by_role("button", name="Save").click()
    expect(confirmation(page)).to_contain_text("Your account was saved.")
    expect(page.get_by_text("Mails go to maya@example.org")).to_be_visible()
    shot(page, "account", full_page=True)

    # The test mails: each goes to the new address over real SMTP; a second alert at once
    # is held back with the reason.
    page.get_by_role("button", name="Send a test alert message").click()
    expect(confirmation(page)).to_contain_text("A test alert was sent to maya@example.org.")
    page.get_by_role("button", name="Send a test report").click()
    expect(confirmation(page)).to_contain_text("A test report was sent to maya@example.org.")
    page.get_by_role("button", name="Send a test alert message").click()
    expect(page.locator(".message-error")).to_contain_text("wait a minute")
    mails = lab_smtp.wait_for(2)
    assert [m["To"] for m in mails] == ["maya@example.org"] * 2
    assert all(m["Subject"].startswith("[Test] ") for m in mails)
    assert len(lab_smtp.messages) == 2

    # The password: too short, then a good one.
    page.get_by_role("link", name="Change your password").click()
    page.locator("[name=old_password]").fill(PASSWORD)
    page.locator("[name=new_password1]").fill("short")
    page.locator("[name=new_password2]").fill("short")
    page.get_by_role("button", name="Change password").click()
    expect(error_at(form_with(page, "new_password2"), "new_password2")).to_contain_text(
        "at least 12 characters"
    )
    page.locator("[name=old_password]").fill(PASSWORD)
    page.locator("[name=new_password1]").fill(NEW_PASSWORD)
    page.locator("[name=new_password2]").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(confirmation(page)).to_contain_text("Your password was changed.")

    # Two-factor enrolment: a wrong code is refused next to the field.
    page.goto(live_server.url + "/account/mfa/")
    page.locator("[name=token]").fill("000000")
    page.get_by_role("button", name="Turn on").click()
    expect(error_at(form_with(page, "token"), "token")).to_contain_text("This code is not valid")

    # The language switch in the header: the next page speaks French, the account keeps it.
    page.locator(".menu-user > summary").click()  # the account's menu holds the switch
    page.locator("form.language-switch select[name=language]").select_option("fr")
    page.locator("form.language-switch").get_by_role("button").click()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    page.goto(live_server.url + "/account/")
    expect(form_with(page, "email").locator("select[name=language]")).to_have_value("fr")
    assert page.problems == []  # type: ignore[attr-defined]


def test_host_forms(page: Page, live_server, root: User, seeded_fleet: list[Host]) -> None:
    log_in(page, live_server.url, "root")

    # Add: an endpoint that is not one is refused next to it.
    page.goto(live_server.url + "/hosts/new")
    form = form_with(page, "endpoint")
    form.locator("[name=name]").fill("lab-1")
    form.locator("[name=endpoint]").fill("http//lab-1:2376")
    form.get_by_role("button", name=re.compile("Add host")).click()
    form = form_with(page, "endpoint")
    expect(error_at(form, "endpoint")).to_be_visible()
    assert not Host.objects.filter(name="lab-1").exists()

    # A valid TLS host, not scanned on schedule: it is saved and its page opens.
    pem = make_tls_pem()
    form.locator("[name=name]").fill("lab-1")
    form.locator("[name=endpoint]").fill("tcp://192.0.2.10:2376")
    form.locator("[name=enabled]").uncheck()
    form.locator("[name=tls_ca_cert]").fill(pem.ca_cert)
    form.locator("[name=tls_client_cert]").fill(pem.client_cert)
    form.locator("[name=tls_client_key]").fill(pem.client_key)
    form.get_by_role("button", name=re.compile("Add host")).click()
    expect(confirmation(page)).to_contain_text("Host added")
    expect(page.locator("h1")).to_contain_text("lab-1")

    # Edit: labels that are not key=value are refused next to the field; then saved.
    page.goto(live_server.url + "/hosts/lab-1/edit")
    form = form_with(page, "labels")
    form.locator("[name=labels]").fill("env")
    form.get_by_role("button", name="Save").click()
    expect(error_at(form_with(page, "labels"), "labels")).to_contain_text("key=value")
    form_with(page, "labels").locator("[name=labels]").fill("env=lab")
    form_with(page, "labels").get_by_role("button", name="Save").click()
    expect(confirmation(page)).to_contain_text("Host saved.")
    assert Host.objects.get(name="lab-1").labels == {"env": "lab"}

    # Delete, through its confirmation page.
    page.goto(live_server.url + "/hosts/lab-1/delete")
    page.get_by_role("button", name="Delete host").click()
    expect(confirmation(page)).to_contain_text("lab-1 deleted")
    assert not Host.objects.filter(name="lab-1").exists()
    assert page.problems == []  # type: ignore[attr-defined]


def test_policy_forms(page: Page, live_server, root: User, seeded_fleet: list[Host]) -> None:
    log_in(page, live_server.url, "root")

    # A risk exception without a reason and with an expiry in the past: both said, in place.
    page.goto(live_server.url + "/exceptions/")
    form = form_with(page, "reason")
    form.locator("[name=rule_id]").select_option("CTR-PRIVILEGED")
    form.locator("[name=host]").fill("pay-api-1")
    form.locator("[name=container_pattern]").fill("cadvisor")
    form.locator("[name=owner]").fill("security@example.org")
    form.locator("[name=expires_on]").fill((date.today() - timedelta(days=1)).isoformat())
    form.get_by_role("button", name=re.compile("Accept the risk|Ask for approval")).click()
    form = form_with(page, "reason")
    expect(error_at(form, "reason")).to_be_visible()
    expect(form.locator(".field-invalid", has=page.locator("[name=expires_on]"))).to_contain_text(
        "after today"
    )
    assert not RiskException.objects.exists()
    form.locator("[name=expires_on]").fill((date.today() + timedelta(days=30)).isoformat())
    form.locator("[name=reason]").fill("cadvisor needs the host's devices; replaced in Q1")
    form.get_by_role("button", name=re.compile("Accept the risk|Ask for approval")).click()
    expect(confirmation(page)).to_contain_text(re.compile("Exception (saved|requested)"))
    assert RiskException.objects.count() == 1

    # A rule override without a reason; then one that turns a rule off for staging.
    page.goto(live_server.url + "/profiles/")
    form = form_with(page, "action")
    form.locator("[name=rule_id]").select_option("CTR-MEMORY-LIMIT")
    form.locator("[name=action]").select_option("disable")
    form.locator("[name=label]").fill("env=staging")
    form.get_by_role("button", name=re.compile("Save override|Ask for approval")).click()
    expect(error_at(form_with(page, "action"), "reason")).to_be_visible()
    assert not RuleOverride.objects.exists()
    form_with(page, "action").locator("[name=reason]").fill("staging hosts share one box")
    form_with(page, "action").get_by_role(
        "button", name=re.compile("Save override|Ask for approval")
    ).click()
    expect(confirmation(page)).to_contain_text(re.compile("Override (saved|requested)"))
    assert RuleOverride.objects.count() == 1
    assert page.problems == []  # type: ignore[attr-defined]


def test_triage_decision(page: Page, live_server, root: User, seeded_fleet: list[Host]) -> None:
    vulnerability_data()
    inventory = InventoryFactory(image_name="registry.example/pay/api:1.4")
    VulnFactory(inventory=inventory, vuln=VULN, package_name="xz-utils")
    place(Host.objects.get(name="pay-api-1"), inventory)
    log_in(page, live_server.url, "root")
    page.goto(f"{live_server.url}/vulnerabilities/{VULN}/")

    # "Not affected" without saying why, nor who answers for it: both said, in place.
    form = form_with(page, "state")
    form.locator("[name=state]").select_option("not_affected")
    form.locator("[name=scope]").select_option("fleet")
    form.get_by_role("button", name="Record the decision").click()
    form = form_with(page, "state")
    expect(error_at(form, "justification")).to_contain_text("Say why it is not affected")
    expect(error_at(form, "owner")).to_be_visible()
    assert not VulnDecision.objects.exists()
    form.locator("[name=justification]").select_option("vulnerable_code_not_in_execute_path")
    form.locator("[name=owner]").fill("security@example.org")
    form.locator("[name=reason]").fill("the parser is never reached")
    form.get_by_role("button", name="Record the decision").click()
    expect(confirmation(page)).to_contain_text("Decision recorded")
    assert VulnDecision.objects.count() == 1
    assert page.problems == []  # type: ignore[attr-defined]


def test_subscription_forms(page: Page, live_server, root: User, seeded_fleet: list[Host]) -> None:
    log_in(page, live_server.url, "root")

    # An alert for a team's hosts without saying which team: refused next to the field.
    page.goto(live_server.url + "/alerts/")
    expect(page.get_by_text("Mails go to root@example.org")).to_be_visible()
    form = form_with(page, "scope")
    form.locator("[name=scope]").select_option("label")
    form.get_by_role("button", name="Subscribe").click()
    expect(page.locator("#alerts-panel .error").first).to_be_visible()
    assert not Subscription.objects.exists()
    form = form_with(page, "scope")
    form.locator("[name=scope]").select_option("all")
    form.get_by_role("button", name="Subscribe").click()
    expect(confirmation(page)).to_contain_text("Subscription saved.")
    expect(page.locator("#alerts-panel table")).to_be_visible()
    assert Subscription.objects.count() == 1

    # A weekly report of the whole fleet; the same one again is refused above the form.
    page.goto(live_server.url + "/reports/subscriptions/")
    form = form_with(page, "period")
    form.locator("[name=period]").select_option("week")
    form.get_by_role("button", name="Subscribe").click()
    expect(confirmation(page)).to_contain_text("You will receive this report by email.")
    form = form_with(page, "period")
    form.locator("[name=period]").select_option("week")
    form.get_by_role("button", name="Subscribe").click()
    expect(page.locator("#report-subs-panel .alert-error")).to_contain_text(
        "You already receive this report."
    )
    assert ReportSubscription.objects.count() == 1
    assert page.problems == []  # type: ignore[attr-defined]


def test_people_forms(page: Page, live_server, root: User) -> None:
    log_in(page, live_server.url, "root")

    # A team without a label; then a good one; then the same again.
    page.goto(live_server.url + "/access/teams/")
    form = form_with(page, "label")
    form.locator("[name=name]").fill("Payments")
    form.get_by_role("button", name="Create team").click()
    expect(error_at(form_with(page, "label"), "label")).to_be_visible()
    assert not Team.objects.exists()
    form = form_with(page, "label")
    form.locator("[name=label]").fill("payments")
    form.get_by_role("button", name="Create team").click()
    expect(confirmation(page)).to_contain_text("The team was created.")
    expect(page.get_by_text("team=payments")).to_be_visible()
    form = form_with(page, "label")
    form.locator("[name=name]").fill("Payments")
    form.locator("[name=label]").fill("payments")
    form.get_by_role("button", name="Create team").click()
    expect(form_with(page, "label").locator(".error").first).to_contain_text("already")
    assert Team.objects.count() == 1

    # The team's own page: a name taken away is refused; then renamed; then deleted.
    team = Team.objects.get()
    page.goto(f"{live_server.url}/access/teams/{team.pk}/")
    form = form_with(page, "label")
    form.locator("[name=name]").fill("")
    form.get_by_role("button", name="Save").click()
    expect(error_at(form_with(page, "label"), "name")).to_be_visible()
    form_with(page, "label").locator("[name=name]").fill("Payments team")
    form_with(page, "label").get_by_role("button", name="Save").click()
    expect(confirmation(page)).to_contain_text("The team was saved.")
    expect(page.get_by_text("Payments team")).to_be_visible()
    page.goto(f"{live_server.url}/access/teams/{team.pk}/?delete")
    page.get_by_role("button", name="Delete team").click()
    expect(confirmation(page)).to_contain_text("The team was deleted.")
    assert not Team.objects.exists()

    # An invitation for a taken name and a bad address; then a good one shows its link.
    page.goto(live_server.url + "/access/users/new")
    form = form_with(page, "username")
    form.locator("[name=username]").fill("root")
    form.locator("[name=email]").fill("maya at example")
    form.locator("[name=role]").select_option("viewer")
    form.get_by_role("button", name="Create the account").click()
    form = form_with(page, "username")
    expect(error_at(form, "username")).to_contain_text("already exists")
    expect(error_at(form, "email")).to_contain_text("valid email address")
    form.locator("[name=username]").fill("maya")
    form.locator("[name=email]").fill("maya@example.org")
    form.get_by_role("button", name="Create the account").click()
    link = page.locator("code.invite-link").inner_text()
    assert "/account/welcome/" in link

    # An account's page: an admin may not demote themselves; another account's role is saved.
    page.goto(f"{live_server.url}/access/users/{root.pk}/")
    form_with(page, "role").locator("[name=role]").select_option("viewer")
    form_with(page, "role").get_by_role("button", name="Save").click()
    refused = error_at(form_with(page, "role"), "role").filter(has_text="from yourself")
    expect(refused).to_be_visible()
    maya = User.objects.get(username="maya")
    page.goto(f"{live_server.url}/access/users/{maya.pk}/")
    form_with(page, "role").locator("[name=role]").select_option("operator")
    form_with(page, "role").get_by_role("button", name="Save").click()
    expect(confirmation(page)).to_contain_text("The account was saved.")

    # The invitation's set-password page: a short password; then a good one.
    page.goto(link)
    page.locator("[name=new_password1]").fill("short")
    page.locator("[name=new_password2]").fill("short")
    page.get_by_role("button", name="Set password").click()
    expect(error_at(form_with(page, "new_password2"), "new_password2")).to_contain_text(
        "at least 12 characters"
    )
    page.locator("[name=new_password1]").fill(NEW_PASSWORD)
    page.locator("[name=new_password2]").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set password").click()
    expect(confirmation(page)).to_contain_text("Your password is set")
    assert page.problems == []  # type: ignore[attr-defined]

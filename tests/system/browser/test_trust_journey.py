"""The admin's journey of issue 12, in a real Chromium, error paths first: create a team
(a bad label is refused in place), invite a manager of that team (a taken name is refused
in place), who sets a password through the one-time link (a short one is refused in
place), signs in and sees only that team's hosts; an operator of the team who moves a
host without re-entering its key is told so; the admin finds all of it in the audit
trail. Then repeated wrong passwords lock an account out with a page that says so."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from access.models import Team
from access.roles import Role
from access.services import set_role
from accounts.services import set_language
from hosts.models import Host
from tests.factories import make_ssh_pem
from tests.system.browser.conftest import VIEWPORT
from tests.system.browser.helpers import PASSWORD, log_in, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_PASSWORD = "a manager's long passphrase"


def errors_of(page: Page) -> str:
    return " ".join(page.locator(".error, .alert-error").all_inner_texts())


def test_admin_invites_a_team_manager_who_sees_only_that_team(
    page: Page, browser: Browser, live_server, django_user_model
) -> None:
    django_user_model.objects.create_superuser("root", "root@example.org", PASSWORD)
    Host.objects.create(name="pay-1", endpoint="tcp://127.0.0.1:2376", labels={"team": "pay"})
    Host.objects.create(name="web-1", endpoint="tcp://127.0.0.1:2377", labels={"team": "web"})
    log_in(page, live_server.url, "root")

    # A team, refused once for its label.
    page.goto(live_server.url + "/access/teams/")
    page.fill("input[name=name]", "Payments")
    page.fill("input[name=label]", "pay team!")
    page.click("button:has-text('Create team')")
    expect(page.locator(".error").first).to_be_visible()
    assert not Team.objects.exists()
    page.fill("input[name=label]", "pay")
    page.click("button:has-text('Create team')")
    expect(page.locator("table.teams")).to_contain_text("team=pay")

    # An invitation, refused once for a name already taken.
    page.goto(live_server.url + "/access/users/new")
    page.fill("input[name=username]", "root")
    page.fill("input[name=email]", "maya@example.org")
    page.select_option("select[name=role]", "viewer")
    page.get_by_label("Payments").check()
    page.click("button:has-text('Create the account')")
    expect(page.locator(".alert-error")).to_be_visible()
    assert "already exists" in errors_of(page)
    page.fill("input[name=username]", "maya")
    page.get_by_label("Payments").check()
    page.click("button:has-text('Create the account')")
    link = page.locator("code.invite-link").inner_text()
    assert re.search(r"/account/welcome/[^/]+/[^/]+/$", link)

    # The manager, in a browser of her own: a short password first.
    context = browser.new_context(viewport=VIEWPORT, locale="en-GB")
    maya = context.new_page()
    maya.goto(link.replace("http://127.0.0.1:8000", live_server.url))
    maya.fill("input[name=new_password1]", "short")
    maya.fill("input[name=new_password2]", "short")
    maya.click("button:has-text('Set password')")
    expect(maya.locator(".error").first).to_be_visible()
    assert "at least 12 characters" in errors_of(maya)
    maya.fill("input[name=new_password1]", LONG_PASSWORD)
    maya.fill("input[name=new_password2]", LONG_PASSWORD)
    maya.click("button:has-text('Set password')")
    log_in(maya, live_server.url, "maya", LONG_PASSWORD)
    maya.goto(live_server.url + "/")
    expect(maya.locator("body")).to_contain_text("pay-1")
    expect(maya.locator("body")).not_to_contain_text("web-1")
    expect(maya.get_by_role("link", name="Add host")).to_have_count(0)
    assert maya.goto(live_server.url + "/hosts/web-1/").status == 404
    assert maya.goto(live_server.url + "/hosts/pay-1/edit").status == 403
    context.close()

    # An operator of the team moves pay-1 without pasting its SSH key again.
    host = Host.objects.get(name="pay-1")
    host.endpoint = "ssh://posture@127.0.0.1:22"
    ssh = make_ssh_pem()
    host.ssh_host_key = ssh.host_key
    host.set_ssh_private_key(ssh.private_key)
    host.save()
    omar = django_user_model.objects.create_user("omar", "omar@example.org", PASSWORD)
    set_role(omar, Role.OPERATOR, [Team.objects.get(label="pay")])
    context = browser.new_context(viewport=VIEWPORT, locale="en-GB")
    ops = context.new_page()
    log_in(ops, live_server.url, "omar")
    ops.goto(live_server.url + "/hosts/pay-1/edit")
    ops.fill("input[name=endpoint]", "ssh://posture@127.0.0.2:22")
    ops.click("button[type=submit]:has-text('Save')")
    expect(ops.locator(".error").first).to_be_visible()
    assert "enter" in errors_of(ops) and "again" in errors_of(ops)
    assert Host.objects.get(name="pay-1").endpoint == "ssh://posture@127.0.0.1:22"
    context.close()

    # Everything above is in the audit trail.
    page.goto(live_server.url + "/audit/")
    trail = page.locator("main")
    for action in ("team.created", "user.created", "auth.login"):
        expect(trail).to_contain_text(action)
    assert page.problems == []  # type: ignore[attr-defined]


def test_repeated_wrong_passwords_lock_the_account_out(
    page: Page, live_server, django_user_model, settings
) -> None:
    django_user_model.objects.create_user("lena", "lena@example.org", PASSWORD)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(page, live_server.url, "lena", "not the password at all")
    expect(page.locator("body")).to_contain_text(re.compile("locked", re.IGNORECASE))
    log_in(page, live_server.url, "lena")  # the right password, too late
    expect(page.locator("body")).to_contain_text(re.compile("locked", re.IGNORECASE))
    assert page.url.rstrip("/").endswith("/login")


@pytest.mark.parametrize("width", [1400, 768])
def test_trust_pages_in_french_fit_and_say_what_is_wrong(
    page: Page, live_server, django_user_model, width: int
) -> None:
    """The admin's new pages, in French, at a desktop and a tablet width: nothing wider than
    the window, and a refused form says why in French, in place."""
    admin = django_user_model.objects.create_superuser("root", "root@example.org", PASSWORD)
    set_language(admin, "fr")
    team = Team.objects.create(name="Paiements", label="pay")
    maya = django_user_model.objects.create_user("maya", "maya@example.org", PASSWORD)
    set_role(maya, Role.VIEWER, [team])
    page.set_viewport_size({"width": width, "height": 1000})
    log_in(page, live_server.url, "root")

    page.goto(live_server.url + "/access/teams/")
    page.fill("input[name=name]", "Web")
    page.fill("input[name=label]", "web team!")
    page.click("form.form button[type=submit]")
    expect(page.locator(".error").first).to_be_visible()
    assert "Utilisez" in errors_of(page) or "lettres" in errors_of(page), errors_of(page)
    shot(page, f"teams-fr-{width}")

    for path in (
        "/access/users/",
        f"/access/users/{maya.pk}/",
        "/access/teams/",
        "/audit/",
        "/account/",
        "/account/password/",
        "/account/mfa/",
    ):
        page.goto(live_server.url + path)
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, f"{path} is {wide}px wide at {width}px"
        shot(page, "trust" + path.replace("/", "-").rstrip("-") + f"-{width}")
    assert page.problems == []  # type: ignore[attr-defined]

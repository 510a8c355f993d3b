"""SSH access for host checks on a tcp:// host, in a real Chromium: a refused address is
shown next to its field with the other typed values kept and the key never echoed; once
corrected, the host is saved with it (issue 16)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from hosts.models import Host
from tests.factories import HostFactory, make_ssh_pem
from tests.system.browser.helpers import PASSWORD, log_in
from tests.system.browser.test_every_form import confirmation, error_at, form_with

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_ssh_access_is_refused_in_place_then_saved(
    page: Page, live_server, django_user_model: type[User]
) -> None:
    django_user_model.objects.create_superuser("root", "root@example.org", PASSWORD)
    host, _ = HostFactory.with_tls_credentials(name="tls-1", enabled=False)
    ssh = make_ssh_pem()
    log_in(page, live_server.url, "root")

    page.goto(f"{live_server.url}/hosts/{host.name}/edit")
    form = form_with(page, "ssh_access")
    expect(form.locator(".secret-state")).to_contain_text(["No private key for host checks"])
    form.locator("[name=ssh_access]").fill("posture@169.254.169.254")
    form.locator("[name=ssh_access_host_key]").fill(ssh.host_key)
    form.locator("[name=ssh_access_key]").fill(ssh.private_key)
    form.get_by_role("button", name="Save").click()

    form = form_with(page, "ssh_access")
    expect(error_at(form, "ssh_access")).to_contain_text("metadata address")
    expect(form.locator("[name=ssh_access]")).to_have_value("posture@169.254.169.254")
    expect(form.locator("[name=ssh_access_host_key]")).to_have_value(ssh.host_key)
    expect(form.locator("[name=ssh_access_key]")).to_have_value("")  # write-only
    assert ssh.private_key.splitlines()[1] not in page.content()
    assert not Host.objects.get(name="tls-1").ssh_access

    form.locator("[name=ssh_access]").fill("posture@192.0.2.10")
    form.locator("[name=ssh_access_key]").fill(ssh.private_key)
    form.get_by_role("button", name="Save").click()
    expect(confirmation(page)).to_contain_text("Host saved.")
    saved = Host.objects.get(name="tls-1")
    assert (saved.ssh_access, saved.has_ssh_access_key) == ("posture@192.0.2.10:22", True)

    page.goto(f"{live_server.url}/hosts/{host.name}/edit")
    expect(form_with(page, "ssh_access").locator(".secret-state").nth(2)).to_contain_text(
        "A private key for host checks is stored (encrypted)."
    )
    assert page.problems == []  # type: ignore[attr-defined]

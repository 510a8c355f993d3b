"""An ops engineer's alerts, in a real Chromium, as the operator of the payments team.

From a host's page, "Alert me" opens the form already on that host. On the alerts page the
form shows only what the scope chosen needs: a team's hosts asks for the team (a select of
the account's teams, not free text), and Subscribe without one says so in place; choosing
the team previews its hosts. The subscription is listed, removed and made again (htmx swaps
of the panel). Then real scans of the lab dockerd: a privileged container appears on a
payments host that an earlier scan saw clean, the mail arrives at a real SMTP server and its
link opens that host's page; the container is removed, the next scan sends the recovery;
"Recent messages" names host, rule and kind of both."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import docker
import docker.errors
import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from access.models import Team
from access.services import set_role
from alerts.models import Notification, Subscription
from hosts.models import Host
from lab.daemon import LabDaemon
from lab.smtp import LabSmtp
from posture.celery import app
from scans import services
from scans.models import ScanRun
from tests.alerts.helpers import LIMITS, text_part
from tests.factories import ScanRunFactory
from tests.system.browser.helpers import PASSWORD, log_in, shot

pytestmark = [pytest.mark.browser, pytest.mark.docker, pytest.mark.django_db(transaction=True)]
CONTAINER = "ops-journey-api"  # not lab-*: create_samples would replace it


@pytest.fixture
def eager_celery() -> Iterator[None]:
    # No worker here: the alerts task runs in the scan's thread, as a worker would run it.
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def privileged_api(lab_client: docker.APIClient, lab_image: str) -> Iterator[None]:
    """A privileged container of the team's that the test removes to see it recover."""
    config = lab_client.create_host_config(privileged=True, network_mode="none")
    with contextlib.suppress(docker.errors.NotFound):
        lab_client.remove_container(CONTAINER, force=True)
    lab_client.create_container(lab_image, ["sleep", "3600"], name=CONTAINER, host_config=config)
    yield
    with contextlib.suppress(docker.errors.NotFound):
        lab_client.remove_container(CONTAINER, force=True)


def unexpected(problems: list[str]) -> list[str]:
    """Chromium logs every 4xx answer as a failed resource: the refused form's 422 is meant."""
    return [p for p in problems if "status of 422" not in p]


def scan(host: Host) -> None:
    queued, _ = services.request_scan(host, enqueue=False)
    run = services.run_scan(queued.pk, LIMITS)
    assert run.status == ScanRun.Status.SUCCEEDED, run.error_detail


def choose_scope(page: Page, label: str) -> None:
    form = page.locator("form[hx-post='/alerts/']")
    with page.expect_response(re.compile(r"/alerts/form\?")):
        form.locator("select[name=scope]").select_option(label=label)
    # htmx wires the new fields up as it settles them (it drops .htmx-added then): a change
    # made before that would go unheard, as no person could be that quick.
    expect(form.locator(".htmx-added")).to_have_count(0)


def subscribe_to_team(page: Page) -> None:
    form = page.locator("form[hx-post='/alerts/']")
    choose_scope(page, "A team's hosts")
    with page.expect_response(re.compile(r"/alerts/preview\?")):
        form.get_by_label("Team").select_option(label="Payments (team=payments)")
    expect(form.get_by_role("status")).to_have_text("Matches 2 hosts: pay-lab, pay-web")
    form.get_by_label("Severity").select_option(label="Critical only")
    with page.expect_response(re.compile(r"/alerts/$")) as answer:
        form.get_by_role("button", name="Subscribe").click()
    assert answer.value.status == 200


def test_operator_subscribes_to_the_team_and_hears_of_a_regression_and_its_recovery(
    page: Page,
    live_server,
    django_user_model,
    lab_daemon: LabDaemon,
    lab_client: docker.APIClient,
    lab_samples: dict[str, str],
    privileged_api: None,
    lab_smtp: LabSmtp,
    eager_celery: None,
    settings: Any,
) -> None:
    settings.POSTURE_BASE_URL = live_server.url
    # Every critical failure of the lab's samples mails too: none may wait for a digest.
    settings.POSTURE_ALERTS = {**settings.POSTURE_ALERTS, "RATE_LIMIT_PER_HOUR": 1000}
    payments = Team.objects.create(name="Payments", label="payments")
    Team.objects.create(name="Web", label="web")
    omar = django_user_model.objects.create_user("omar", "omar@example.org", PASSWORD)
    set_role(omar, "operator", [payments])
    host = Host.objects.create(
        name="pay-lab", endpoint=lab_daemon.unix_url, labels={"team": "payments", "env": "prod"}
    )
    Host.objects.create(name="pay-web", endpoint="tcp://10.0.0.9:2376", labels={"team": "payments"})
    Host.objects.create(name="web-1", endpoint="tcp://10.0.0.8:2376", labels={"team": "web"})
    log_in(page, live_server.url, "omar")

    # The host page's shortcut: the form opens on that host, its preview says so.
    page.goto(live_server.url + "/hosts/pay-lab/")
    page.get_by_role("link", name="Alert me about pay-lab").click()
    expect(page).to_have_url(re.compile(r"/alerts/\?host=pay-lab$"))
    form = page.locator("form[hx-post='/alerts/']")
    expect(form.get_by_label("Host", exact=True)).to_have_value("pay-lab")
    expect(form.get_by_role("status")).to_have_text("Matches 1 host: pay-lab")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts").click()
    expect(page).to_have_url(re.compile(r"/alerts/$"))
    panel = page.locator("#alerts-panel")
    expect(panel).to_contain_text("No subscription")
    expect(form.get_by_role("status")).to_have_text(
        "Matches 2 hosts: pay-lab, pay-web"  # all hosts of the operator's team, not web-1
    )

    # Only the fields the scope needs: one host asks for the host, a team for the team.
    choose_scope(page, "One host")
    expect(form.get_by_label("Host", exact=True)).to_be_visible()
    expect(form.locator("select[name=team]")).to_have_count(0)
    choose_scope(page, "A team's hosts")
    expect(form.locator("select[name=host]")).to_have_count(0)
    team = form.get_by_label("Team")
    expect(team.locator("option")).to_have_text(["Choose a team", "Payments (team=payments)"])
    expect(form.get_by_role("status")).to_have_text("Choose a team to see its hosts.")

    # Error path: no team chosen, refused in place, nothing saved.
    with page.expect_response(re.compile(r"/alerts/$")) as refused:
        form.get_by_role("button", name="Subscribe").click()
    assert refused.value.status == 422
    expect(panel.locator(".field-invalid")).to_contain_text("Choose the team.")
    assert not Subscription.objects.exists()

    with page.expect_response(re.compile(r"/alerts/preview\?")):
        team.select_option(label="Payments (team=payments)")
    expect(form.get_by_role("status")).to_have_text("Matches 2 hosts: pay-lab, pay-web")
    form.get_by_label("Severity").select_option(label="Critical only")
    with page.expect_response(re.compile(r"/alerts/$")) as answer:
        form.get_by_role("button", name="Subscribe").click()
    assert answer.value.status == 200
    rows = panel.locator("table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("team=payments")
    expect(rows.first).to_contain_text("Critical only")
    expect(panel).to_contain_text("Subscription saved.")
    expect(page).to_have_url(re.compile(r"/alerts/$"))  # swapped in place, no reload

    with page.expect_response(re.compile(r"/alerts/\d+/delete$")):
        rows.first.get_by_role("button", name="Remove").click()
    expect(panel).to_contain_text("Subscription removed.")
    expect(panel).to_contain_text("No subscription")
    assert not Subscription.objects.exists()

    subscribe_to_team(page)
    expect(rows).to_have_count(1)
    assert Subscription.objects.get().label_selector == "team=payments"

    # The regression: a privileged container appears after a clean scan (a host's first
    # picture is only a baseline, alerts.detect), and the next real scan finds it.
    ScanRunFactory(host=host, requested_at=timezone.now() - timedelta(hours=1))
    scan(host)
    sent = Notification.objects.filter(status=Notification.Status.SENT).count()
    mails = lab_smtp.wait_for(sent)
    assert {m["To"] for m in mails} == {"omar@example.org"}
    [mail] = [m for m in mails if f"CTR-PRIVILEGED on {CONTAINER}" in m["Subject"]]
    assert "pay-lab" in mail["Subject"]
    link = re.search(r"https?://\S+/hosts/pay-lab/", text_part(mail))
    assert link is not None and link.group(0).startswith(live_server.url)

    page.goto(link.group(0))
    expect(page.locator("h1")).to_contain_text("pay-lab")
    expect(page.locator("main")).to_contain_text("CTR-PRIVILEGED")
    expect(page.locator("main")).to_contain_text(CONTAINER)

    # The recovery: the container is gone at the next scan, one mail says so.
    lab_client.remove_container(CONTAINER, force=True)
    scan(host)
    recovery = lab_smtp.wait_for(sent + 1)[-1]
    assert recovery["Subject"] == f"[Posture] Resolved on pay-lab: CTR-PRIVILEGED on {CONTAINER}."

    page.goto(live_server.url + "/alerts/")
    recent = page.locator("table.recent-messages tbody tr")
    expect(recent.first).to_contain_text("Recovery")
    expect(recent.first).to_contain_text("pay-lab")
    expect(recent.first).to_contain_text(f"CTR-PRIVILEGED on {CONTAINER}")
    regression = recent.filter(has_text="Regression").filter(has_text=CONTAINER)
    expect(regression).to_have_count(1)
    shot(page, "alerts", full_page=True)
    assert unexpected(page.problems) == []  # type: ignore[attr-defined]

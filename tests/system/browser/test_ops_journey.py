"""An ops engineer's alerts, in a real Chromium, as the operator of the payments team.

From a host's page, "Alert me" opens the form already on that host. On the alerts page the
form shows only what the scope chosen needs: a team's hosts asks for the team (a select of
the account's teams, not free text), and Subscribe without one says so in place; choosing
the team previews its hosts. The subscription is listed, removed and made again (htmx swaps
of the panel). Then real scans of the lab dockerd: a privileged container appears on a
payments host that an earlier scan saw clean, the mail arrives at a real SMTP server and its
link opens that host's page; the container is removed, the next scan sends the recovery;
"Recent messages" names host, rule and kind of both. In English and in French (the
account's language, which the mails follow too), axe-core clean at each main step."""

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
from accounts.services import set_language
from alerts.models import Notification, Subscription
from hosts.models import Host
from lab.daemon import LabDaemon
from lab.smtp import LabSmtp
from posture.celery import app
from scans import services
from scans.models import ScanRun
from tests.alerts.helpers import LIMITS, text_part
from tests.factories import ScanRunFactory
from tests.system.browser.axe import check_axe
from tests.system.browser.helpers import PASSWORD, log_in, shot
from tests.system.browser.language import BOTH, ntr, tr

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


def matches(lang: str, *hosts: str) -> str:
    """The preview's sentence for these hosts, as the page words it in `lang`."""
    count = ntr(lang, "Matches %(n)s host:", "Matches %(n)s hosts:", len(hosts))
    return f"{count} {', '.join(hosts)}"


def choose_scope(page: Page, label: str) -> None:
    form = page.locator("form[hx-post='/alerts/']")
    # A panel just swapped in (after a removal) gets its htmx listeners as it settles: a
    # change made before then would go unheard, as no person could be that quick.
    expect(page.locator(".htmx-added, .htmx-settling")).to_have_count(0)
    with page.expect_response(re.compile(r"/alerts/form\?")):
        form.locator("select[name=scope]").select_option(label=label)
    # htmx wires the new fields up as it settles them (it drops .htmx-added then): a change
    # made before that would go unheard, as no person could be that quick.
    expect(form.locator(".htmx-added")).to_have_count(0)


def subscribe_to_team(page: Page, lang: str) -> None:
    form = page.locator("form[hx-post='/alerts/']")
    choose_scope(page, tr(lang, "A team's hosts"))
    with page.expect_response(re.compile(r"/alerts/preview\?")):
        form.get_by_label(tr(lang, "Team")).select_option(label="Payments (team=payments)")
    expect(form.get_by_role("status")).to_have_text(matches(lang, "pay-lab", "pay-web"))
    form.get_by_label(tr(lang, "Severity")).select_option(label=tr(lang, "Critical only"))
    with page.expect_response(re.compile(r"/alerts/$")) as answer:
        form.get_by_role("button", name=tr(lang, "Subscribe")).click()
    assert answer.value.status == 200


@BOTH
def test_operator_subscribes_to_the_team_and_hears_of_a_regression_and_its_recovery(
    lang: str,
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
    set_language(omar, lang)
    host = Host.objects.create(
        name="pay-lab", endpoint=lab_daemon.unix_url, labels={"team": "payments", "env": "prod"}
    )
    Host.objects.create(name="pay-web", endpoint="tcp://10.0.0.9:2376", labels={"team": "payments"})
    Host.objects.create(name="web-1", endpoint="tcp://10.0.0.8:2376", labels={"team": "web"})
    log_in(page, live_server.url, "omar")

    # The host page's shortcut: the form opens on that host, its preview says so.
    page.goto(live_server.url + "/hosts/pay-lab/")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    alert_me = f"{tr(lang, 'Alert me')} {tr(lang, 'about %(host)s', host='pay-lab')}"
    page.get_by_role("link", name=alert_me).click()
    expect(page).to_have_url(re.compile(r"/alerts/\?host=pay-lab$"))
    form = page.locator("form[hx-post='/alerts/']")
    expect(form.get_by_label(tr(lang, "Host"), exact=True)).to_have_value("pay-lab")
    expect(form.get_by_role("status")).to_have_text(matches(lang, "pay-lab"))
    check_axe(page, f"alert form on a host ({lang})")

    menu = page.get_by_role("navigation", name=tr(lang, "Main"))
    menu.get_by_role("link", name=tr(lang, "Alerts")).click()
    expect(page).to_have_url(re.compile(r"/alerts/$"))
    panel = page.locator("#alerts-panel")
    expect(panel).to_contain_text(tr(lang, "No subscription: you receive no alert."))
    expect(form.get_by_role("status")).to_have_text(
        matches(lang, "pay-lab", "pay-web")  # all hosts of the operator's team, not web-1
    )

    # Only the fields the scope needs: one host asks for the host, a team for the team.
    choose_scope(page, tr(lang, "One host"))
    expect(form.get_by_label(tr(lang, "Host"), exact=True)).to_be_visible()
    expect(form.locator("select[name=team]")).to_have_count(0)
    choose_scope(page, tr(lang, "A team's hosts"))
    expect(form.locator("select[name=host]")).to_have_count(0)
    team = form.get_by_label(tr(lang, "Team"))
    expect(team.locator("option")).to_have_text(
        [tr(lang, "Choose a team"), "Payments (team=payments)"]
    )
    expect(form.get_by_role("status")).to_have_text(tr(lang, "Choose a team to see its hosts."))

    # Error path: no team chosen, refused in place, nothing saved.
    with page.expect_response(re.compile(r"/alerts/$")) as refused:
        form.get_by_role("button", name=tr(lang, "Subscribe")).click()
    assert refused.value.status == 422
    expect(panel.locator(".field-invalid")).to_contain_text(tr(lang, "Choose the team."))
    assert not Subscription.objects.exists()
    check_axe(page, f"alert form refused ({lang})")

    with page.expect_response(re.compile(r"/alerts/preview\?")):
        team.select_option(label="Payments (team=payments)")
    expect(form.get_by_role("status")).to_have_text(matches(lang, "pay-lab", "pay-web"))
    form.get_by_label(tr(lang, "Severity")).select_option(label=tr(lang, "Critical only"))
    with page.expect_response(re.compile(r"/alerts/$")) as answer:
        form.get_by_role("button", name=tr(lang, "Subscribe")).click()
    assert answer.value.status == 200
    rows = panel.locator("table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("team=payments")
    expect(rows.first).to_contain_text(tr(lang, "Critical only"))
    expect(panel).to_contain_text(tr(lang, "Subscription saved."))
    expect(page).to_have_url(re.compile(r"/alerts/$"))  # swapped in place, no reload
    check_axe(page, f"subscription saved ({lang})")

    with page.expect_response(re.compile(r"/alerts/\d+/delete$")):
        rows.first.get_by_role("button", name=tr(lang, "Remove")).click()
    expect(panel).to_contain_text(tr(lang, "Subscription removed."))
    expect(panel).to_contain_text(tr(lang, "No subscription: you receive no alert."))
    assert not Subscription.objects.exists()

    subscribe_to_team(page, lang)
    expect(rows).to_have_count(1)
    assert Subscription.objects.get().label_selector == "team=payments"

    # The regression: a privileged container appears after a clean scan (a host's first
    # picture is only a baseline, alerts.detect), and the next real scan finds it. The mails
    # are in the account's language.
    ScanRunFactory(host=host, requested_at=timezone.now() - timedelta(hours=1))
    scan(host)
    sent = Notification.objects.filter(status=Notification.Status.SENT).count()
    mails = lab_smtp.wait_for(sent)
    assert {m["To"] for m in mails} == {"omar@example.org"}
    about = tr(lang, "%(rule)s on %(subject)s", rule="CTR-PRIVILEGED", subject=CONTAINER)
    [mail] = [m for m in mails if about in m["Subject"]]
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
    resolved = tr(
        lang,
        "Resolved on %(host)s: %(rule)s on %(subject)s.",
        host="pay-lab",
        rule="CTR-PRIVILEGED",
        subject=CONTAINER,
    )
    # A subject is one line, its spaces collapsed (alerts.emails): French's no-break space
    # before a colon included.
    assert " ".join(str(recovery["Subject"]).split()) == " ".join(f"[Posture] {resolved}".split())

    page.goto(live_server.url + "/alerts/")
    recent = page.locator("table.recent-messages tbody tr")
    expect(recent.first).to_contain_text(tr(lang, "Recovery"))
    expect(recent.first).to_contain_text("pay-lab")
    expect(recent.first).to_contain_text(about)
    regression = recent.filter(has_text=tr(lang, "Regression")).filter(has_text=CONTAINER)
    expect(regression).to_have_count(1)
    check_axe(page, f"recent messages ({lang})")
    if lang == "en":  # the README's screenshots are the English ones
        shot(page, "alerts", full_page=True)
    assert unexpected(page.problems) == []  # type: ignore[attr-defined]

"""A security engineer's first visit, in a real Chromium: log in, find the failing host on
the fleet page, filter, drill into the host, read the evidence and the fix, scan again; then
the analyst's journey (issue 17): fleet -> host -> a finding -> accept the risk for one
container -> export SARIF, in English and in French (the account's language), axe-core clean
at each step."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from access.roles import Role
from access.services import set_role
from accounts.services import set_language
from findings.models import Finding
from hosts.models import Host
from lab.daemon import LabDaemon
from policy.models import RiskException
from scans import services
from scans.models import ScanRun
from tests.system.browser.axe import check_axe
from tests.system.browser.helpers import log_in, shot
from tests.system.browser.language import BOTH, ntr, pattern, tr

pytestmark = [pytest.mark.browser, pytest.mark.docker, pytest.mark.django_db(transaction=True)]


def test_login_fleet_filter_host_scan(
    page: Page,
    live_server,
    django_user_model,
    lab_daemon: LabDaemon,
    lab_samples: dict[str, str],
    seeded_fleet: list[Host],  # the lab host among eleven others, for the screenshots
) -> None:
    set_role(
        django_user_model.objects.create_user("alice", password="correct horse battery"),
        Role.SECURITY,
    )
    lab = Host.objects.create(
        name="lab-1", endpoint=lab_daemon.unix_url, labels={"env": "prod", "team": "payments"}
    )
    Host.objects.create(
        name="staging-9", endpoint="unix:///tmp/pst-nothing.sock", labels={"env": "staging"}
    )
    for host in (lab, Host.objects.get(name="staging-9")):
        scan, _ = services.request_scan(host, enqueue=False)
        services.run_scan(scan.pk)

    page.goto(live_server.url + "/")
    expect(page).to_have_url(re.compile(r"/login/"))
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "correct horse battery")
    page.keyboard.press("Enter")

    table = page.locator("table")
    expect(table).to_contain_text("lab-1")
    expect(table).to_contain_text("staging-9")
    expect(table).to_contain_text("Host unreachable")
    shot(page, "fleet", full_page=True)

    # Filtering is an HTMX partial swap that also updates the URL, so it can be shared.
    page.fill("input[name=label]", "env=prod")
    expect(table).not_to_contain_text("staging-9")
    expect(page).to_have_url(re.compile(r"label=env%3Dprod"))
    # Leaving the field fires its "change" trigger: let that swap land before clicking a
    # row link, or the click can hit a row the swap is replacing.
    page.locator("input[name=label]").blur()
    page.wait_for_load_state("networkidle")

    page.get_by_role("link", name="lab-1", exact=True).click()
    expect(page.locator("h1")).to_contain_text("lab-1")
    card = page.locator(".rule-card", has_text="CTR-PRIVILEGED").first
    expect(card).to_contain_text("lab-privileged")
    expect(card).to_contain_text("HostConfig.Privileged = true")
    expect(card).to_contain_text("--privileged")
    shot(page, "host")

    with page.expect_response(re.compile(r"/hosts/lab-1/scan$")):
        page.click("button:has-text('Scan now')")
    queued = ScanRun.objects.filter(host=lab, status=ScanRun.Status.QUEUED).first()
    assert queued is not None
    services.run_scan(queued.pk)  # no worker in this test: run it where the button queued it
    # The status badge polls until the scan ends (HTTP 286), then offers the new results.
    expect(page.locator("text=Show the new results")).to_be_visible(timeout=15000)
    assert page.problems == []  # type: ignore[attr-defined]


def unexpected(problems: list[str]) -> list[str]:
    """Chromium logs every 4xx answer as a failed resource: the refused form's 422 is expected."""
    return [p for p in problems if "status of 422" not in p]


def matches(lang: str, findings: int, hosts: int | None = None) -> str:
    """The exception preview's count, as the page words it in `lang`."""
    text = ntr(lang, "Matches %(n)s finding", "Matches %(n)s findings", findings)
    if hosts is None:
        return text
    return f"{text} {ntr(lang, 'on %(n)s host today.', 'on %(n)s hosts today.', hosts)}"


@BOTH
def test_accept_one_container_then_export_sarif(
    lang: str,
    page: Page,
    live_server,
    django_user_model,
    lab_daemon: LabDaemon,
    lab_samples: dict[str, str],
) -> None:
    """GIVEN a host where CTR-MEMORY-LIMIT fails on many lab containers, WHEN the analyst
    accepts the risk for ONE of them from its page (prefilled, 30-day preset, "Matches 1
    finding"; a date in the past refused first, in place), THEN after the rescan that one
    finding is in the folded "Accepted risks" group, out of the red, the others still fail,
    and the SARIF downloaded from the host page marks it (and only it) as suppressed."""
    alice = django_user_model.objects.create_user(
        "alice", email="alice@example.org", password="correct horse battery"
    )
    set_role(alice, Role.SECURITY)
    set_language(alice, lang)
    lab = Host.objects.create(
        name="lab-1", endpoint=lab_daemon.unix_url, labels={"env": "prod", "team": "payments"}
    )
    scan, _ = services.request_scan(lab, enqueue=False)
    services.run_scan(scan.pk)
    rule = "CTR-MEMORY-LIMIT"
    failing = Finding.objects.open().filter(host=lab, rule_id=rule)
    assert failing.count() > 1
    # The first of them on the host page's card (the page shows a rule's first subjects).
    first = failing.order_by("subject_kind", "subject_name").first()
    assert first is not None
    target = first.subject_name

    log_in(page, live_server.url, "alice")
    # Fleet -> host.
    page.goto(live_server.url + "/")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    check_axe(page, f"fleet ({lang})")
    page.get_by_role("link", name="lab-1", exact=True).click()
    expect(page.locator("h1")).to_contain_text("lab-1")
    check_axe(page, f"host ({lang})")
    # Host -> a finding: the container's own page, through the host page's link to it.
    name = re.compile(rf"^{re.escape(target)}$")
    href = page.locator("a.subject-link").filter(has_text=name).first.get_attribute("href")
    assert href == f"/hosts/lab-1/containers/{lab_samples[target]}/"
    page.goto(live_server.url + href)
    expect(page.locator("h1")).to_contain_text(target)
    check_axe(page, f"container ({lang})")

    # "Accept…" for this one container: the form comes prefilled, first on the page.
    risk = tr(lang, "the risk of %(rule)s on <bdi>%(name)s</bdi>", rule=rule, name=target)
    accept = f"{tr(lang, 'Accept…')} {re.sub(r'</?bdi>', '', risk)}"
    page.get_by_role("link", name=accept).click()
    expect(page).to_have_url(re.compile(r"/exceptions/\?"))
    form = page.locator("#exception-form")
    expect(form.locator("select[name=rule_id]")).to_have_value(rule)
    expect(form.locator("input[name=host]")).to_have_value("lab-1")
    expect(form.locator("input[name=container_pattern]")).to_have_value(target)
    expect(form.locator("input[name=owner]")).to_have_value("alice@example.org")
    expect(form.get_by_label(tr(lang, "90 days"))).to_be_checked()
    preview = page.locator("#exception-preview")
    expect(preview).to_contain_text(matches(lang, 1, hosts=1))
    # The count follows the fields: a wider pattern matches every lab container failing it.
    form.locator("input[name=container_pattern]").fill("lab-*")
    expect(preview).to_contain_text(matches(lang, failing.count()))
    form.locator("input[name=container_pattern]").fill(target)
    expect(preview).to_contain_text(matches(lang, 1, hosts=1))
    form.get_by_label(tr(lang, "30 days")).check()
    form.locator("textarea[name=reason]").fill("batch job, bounded by the host's cgroup")
    check_axe(page, f"exception form, prefilled ({lang})")
    if lang == "en":  # the README's screenshots are the English ones
        shot(page, "exception-accept")

    # Error path: a date in the past is refused in place, nothing typed is lost.
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    form.locator("input[name=expires_on]").fill(yesterday)
    with page.expect_response(re.compile(r"/exceptions/$")) as answer:
        form.get_by_role("button", name=tr(lang, "Accept the risk")).click()
    assert answer.value.status == 422
    expect(page.locator("#exception-form .error")).to_have_text(
        tr(lang, "Pick a date after today.")
    )
    expect(page.locator("textarea[name=reason]")).to_have_value(
        "batch job, bounded by the host's cgroup"
    )
    assert not RiskException.objects.exists()
    check_axe(page, f"exception form refused ({lang})")

    # Corrected: the 30-day preset applies; saved, and the hosts it covers are rescanned.
    page.locator("#exception-form input[name=expires_on]").fill("")
    page.locator("#exception-form").get_by_role("button", name=tr(lang, "Accept the risk")).click()
    saved = pattern(
        lang, "Exception saved: %(e)s. The hosts it covers are being rescanned.", e=".+"
    )
    expect(page.get_by_text(saved).first).to_be_visible()
    exc = RiskException.objects.get()
    assert (exc.host, exc.container_pattern, exc.owner) == (lab, target, "alice@example.org")
    assert timezone.localtime(exc.expires_at).date() == timezone.localdate() + timedelta(days=30)
    rescan = ScanRun.objects.get(host=lab, status=ScanRun.Status.QUEUED)
    services.run_scan(rescan.pk)  # no worker in this test: run the scan it queued
    assert list(failing.filter(accepted=True).values_list("subject_name", flat=True)) == [target]

    # Back where the analyst came from: the finding moved to the folded accepted group.
    page.get_by_role("link", name=tr(lang, "← Back to where you were")).click()
    expect(page.locator("h1")).to_contain_text(target)
    group = page.locator("details.accepted-group")
    here = Finding.objects.open().filter(host=lab, subject_name=target, accepted=True).count()
    expect(group.locator("summary")).to_have_text(
        ntr(lang, "Accepted risks (%(n)s)", "Accepted risks (%(n)s)", here)
    )
    group.locator("summary").click()
    expect(group).to_contain_text(rule)
    expect(page.locator("table.findings-table")).not_to_contain_text(rule)

    # The host page: that subject folded as an accepted risk, not in the failing red; the
    # other containers failing the rule still are.
    page.get_by_role("link", name="lab-1").first.click()
    accepted = page.locator("li.subject-accepted", has_text=target)
    expect(accepted.first).to_be_attached()
    assert page.locator("li.subject-accepted").count() == 1
    # Its rule's card may be folded (the page opens the first ones): open it, then the subject.
    card = page.locator("details", has=accepted.first).first
    if card.get_attribute("open") is None:
        card.locator(":scope > summary").click()
    accepted.first.locator("summary").click()
    colour = accepted.first.locator(".evidence code").first.evaluate(
        "el => getComputedStyle(el).color"
    )
    assert colour == "rgb(74, 83, 101)", colour  # --ink-2, not the evidence's failing red
    check_axe(page, f"host with an accepted risk ({lang})")
    if lang == "en":
        shot(page, "host-accepted")

    # Export SARIF from the host page: the accepted finding is a suppression, the rest not.
    menu = page.locator("details.export-menu").first
    menu.locator("summary").click()
    with page.expect_download() as download:
        menu.get_by_role("link", name=tr(lang, "SARIF (code scanning)")).click()
    log = json.loads(Path(download.value.path()).read_text())
    results = [r for r in log["runs"][0]["results"] if r["ruleId"] == rule]
    assert {r["properties"]["host"] for r in results} == {"lab-1"}
    suppressed = [r["properties"]["subject"]["name"] for r in results if r.get("suppressions")]
    assert suppressed == [target]
    (only,) = [r for r in results if r.get("suppressions")]
    assert only["suppressions"][0]["status"] == "accepted"
    assert only["suppressions"][0]["justification"] == "batch job, bounded by the host's cgroup"
    assert len(results) == failing.count()

    # The fleet's containers, from the menu: the accepted one no longer counts as failing.
    nav = page.get_by_role("navigation", name=tr(lang, "Main"))
    nav.get_by_role("link", name=tr(lang, "Containers")).click()
    page.get_by_label(tr(lang, "Search")).fill(target)
    row = page.locator("#subject-list tbody tr", has_text=target)
    expect(row).to_have_count(1)
    # Its other failing rules still count; CTR-MEMORY-LIMIT, accepted, does not.
    still = Finding.objects.open().filter(host=lab, subject_name=target, accepted=False)
    expect(row.locator("td.num")).to_have_text(str(still.count()))
    check_axe(page, f"containers ({lang})")
    assert unexpected(page.problems) == []  # type: ignore[attr-defined]

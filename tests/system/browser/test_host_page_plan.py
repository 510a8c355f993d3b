"""The host page as a plan (issue 16), in a real Chromium at 1400×1000: a demo-like host
with ~30 failing rules fits in about three screens, every part of it is still reachable
(the section links, every folded card and list, the subjects of a rule failing on 200
containers loaded by htmx), and the "Fix first" numbers agree with the score shown."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from findings.fixfirst import rescore, tallies_of
from findings.models import Finding, HostPosture
from tests.factories import UserFactory
from tests.system.browser.helpers import PASSWORD, log_in, shot
from tests.system.browser.seed import seed_plan_host

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREEN = {"width": 1400, "height": 1000}
# "About three screens": a little slack over 3 × 1000 px for fonts that differ by machine.
MAX_HEIGHT = 3200


def test_the_demo_host_page_is_a_short_plan_with_everything_reachable(
    page: Page, live_server
) -> None:
    host = seed_plan_host("demo", crowd=200)
    UserFactory(username="ada", password=PASSWORD)  # an admin
    page.set_viewport_size(SCREEN)
    page.set_default_timeout(10_000)
    log_in(page, live_server.url, "ada")

    page.goto(f"{live_server.url}/hosts/demo/")
    expect(page.locator("h1")).to_contain_text("demo")
    height = page.evaluate("document.documentElement.scrollHeight")
    shot(page, "host-plan", full_page=True)
    assert height <= MAX_HEIGHT, f"the host page is {height} px tall"
    assert page.locator("details.rule-card").count() == 30

    # Fix first: each gain is the host re-scored with that rule alone fixed, the total with
    # all of them fixed, from the score the page shows.
    shown = int(re.match(r"\d+", page.locator(".score-big").inner_text()).group())
    posture = HostPosture.objects.get(host=host)
    assert shown == posture.score
    accepted = {
        f.rule_id: (f.severity, 1) for f in Finding.objects.filter(host=host, accepted=True)
    }
    tallies = tallies_of(posture.rule_summary, accepted)
    total = page.locator(".fix-total")
    assert int(total.get_attribute("data-from")) == shown
    lines = page.locator("#fix-first .fix")
    assert 3 <= lines.count() <= 5
    rules, gains = [], []
    for i in range(lines.count()):
        line = lines.nth(i)
        rule, gain = line.get_attribute("data-rule"), int(line.get_attribute("data-gain"))
        assert gain == rescore(tallies, {rule}) - shown
        expect(line.locator(".fix-gain")).to_have_text(f"+{gain}")
        rules.append(rule)
        gains.append(gain)
    assert gains == sorted(gains, reverse=True) and gains[0] > 0
    combined = rescore(tallies, set(rules))
    assert int(total.get_attribute("data-to")) == combined
    assert max(gains) <= combined - shown <= 100 - shown
    expect(total).to_contain_text(f"from {shown} to {combined}")
    # The rule whose one failure on svc-000 is accepted does not name svc-000 in the plan.
    expect(page.locator("#fix-first")).to_contain_text("and 197 more")

    # Every section is one click away from the links at the top.
    for section in ("fix-first", "findings", "containers", "images", "not-assessed", "history"):
        page.locator(f".page-sections a[href='#{section}']").click()
        expect(page).to_have_url(re.compile(f"#{section}$"))
        expect(page.locator(f"#{section}")).to_be_in_viewport()

    # A fix's rule link opens the rule's card even when it is folded.
    page.locator("#fix-first .fix a.rule-link").last.click()
    last_rule = rules[-1]
    expect(page.locator(f"details.rule-card[data-rule='{last_rule}']")).to_have_attribute(
        "open", ""
    )

    # The 200 subjects of the crowded rule: five shown, the rest loaded on demand.
    loader = page.locator("a.show-all", has_text="show all 200")
    expect(loader).to_have_count(1)
    crowded = page.locator("details.rule-card", has=loader).get_attribute("data-rule")
    card = page.locator(f"details.rule-card[data-rule='{crowded}']")
    expect(card.locator("ul.subjects > li")).to_have_count(5)
    if card.get_attribute("open") is None:
        card.locator("summary").first.click()
    loader.click()
    expect(card.locator("ul.subjects > li")).to_have_count(200)
    expect(card.locator("a.show-all")).to_have_count(0)

    # Every folded part opens with a click on its summary: the rule cards, their fixes and
    # snippets, the failing containers, the rules not assessed, the older scans. In document
    # order, so that a card opens before what it holds.
    every = page.locator("details")
    for i in range(every.count()):
        details = every.nth(i)
        if details.get_attribute("open") is None:
            summary = details.locator("> summary")
            summary.scroll_into_view_if_needed()
            summary.click()
        expect(details).to_have_attribute("open", "")
    # Not assessed, one line per reason with what would assess it.
    gaps = page.locator("#not-assessed .gap-list > li")
    expect(gaps).to_have_count(3)
    expect(page.locator("#not-assessed")).to_contain_text("Add SSH access to assess")
    expect(page.locator("#not-assessed")).to_contain_text("Set this host's image scan to deep")
    expect(page.locator("#not-assessed")).to_contain_text("no vulnerability data for Debian:12")
    expect(page.locator("#history tbody tr")).to_have_count(9)
    assert page.problems == []  # type: ignore[attr-defined]

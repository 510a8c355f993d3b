"""The host page's "Fix first" plan (issue 16): gains from rules.score_host itself, accepted
risks and turned-off rules left out, the total re-scored with every listed fix, no query of
its own, and a rule's long list of subjects loaded on demand."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from django.test import Client
from django.urls import reverse

from access.models import Team
from findings.fixfirst import Tally, first_line, rescore, tallies_of
from fleet import fixfirst
from fleet import hostpage as reports
from policy.models import RuleOverride
from rules import REGISTRY, Severity, score_host
from rules.base import Outcome, Result
from rules.engine import Evaluation
from tests.factories import FindingFactory, HostFactory, HostPostureFactory, UserFactory

pytestmark = pytest.mark.django_db


def entry(passed: int = 0, failed: int = 0) -> dict[str, int]:
    return {"pass": passed, "fail": failed, "na": 0, "unknown": 0, "manual": 0}


def expanded(tallies: dict[str, Tally]) -> list[Evaluation]:
    """One evaluation per subject, as a scan makes them."""
    out = []
    for rule_id, tally in tallies.items():
        rule = REGISTRY[rule_id]
        rule = replace(rule, severity=tally.severity)
        out += [Evaluation(rule, rule.scope, "", "", Result(Outcome.PASS))] * tally.passed
        out += [Evaluation(rule, rule.scope, "", "", Result(Outcome.FAIL))] * tally.failed
    return out


def test_rescore_is_score_host_over_the_scans_evaluations():
    # The evaluations are shrunk by each rule's gcd: the score must not move by a point.
    rng = random.Random(16)
    ids = sorted(REGISTRY)
    for _ in range(300):
        tallies = {}
        for rule_id in rng.sample(ids, rng.randrange(1, 40)):
            subjects = rng.randrange(1, 60)
            failed = rng.randrange(0, subjects + 1)
            severity = Severity(rng.randrange(0, 5))
            tallies[rule_id] = Tally(severity, subjects - failed, failed)
        assert rescore(tallies) == score_host(expanded(tallies)).score
        fixed = set(rng.sample(sorted(tallies), min(3, len(tallies))))
        healed = {
            r: Tally(t.severity, t.passed + t.failed, 0) if r in fixed else t
            for r, t in tallies.items()
        }
        assert rescore(tallies, fixed) == score_host(expanded(healed)).score


def test_first_line_is_the_first_sentence():
    assert first_line("Recreate it without --privileged. Then rescan.\nMore.") == (
        "Recreate it without --privileged."
    )
    assert (
        first_line("\n  Upgrade to 1.6.28, 1.7.13 or later\n")
        == "Upgrade to 1.6.28, 1.7.13 or later"
    )


@pytest.fixture
def web1():
    """GIVEN a host failing a critical rule on 5 of 20 containers (one accepted), a high
    rule on the daemon, a low rule on 1 of 20, and passing the rest."""
    host = HostFactory(name="web1")
    summary = {
        "CTR-PRIVILEGED": entry(15, 5),
        "DMN-ICC": entry(0, 1),
        "CTR-CPU-LIMIT": entry(19, 1),
        "CTR-USER": entry(20, 0),
        "CTR-HOST-PID": entry(20, 0),
    }
    for i in range(5):
        FindingFactory(
            host=host, rule_id="CTR-PRIVILEGED", subject_name=f"api-{i}", accepted=i == 0
        )
    FindingFactory(
        host=host,
        rule_id="DMN-ICC",
        severity=int(REGISTRY["DMN-ICC"].severity),
        subject_kind="daemon",
        subject_key="",
        subject_name="daemon",
    )
    FindingFactory(host=host, rule_id="CTR-CPU-LIMIT", severity=1, subject_name="db")
    tallies = tallies_of(summary, {"CTR-PRIVILEGED": (4, 1)})
    HostPostureFactory(host=host, rule_summary=summary, score=rescore(tallies))
    return host, tallies


def test_each_gain_is_the_host_rescored_with_that_rule_fixed(web1):
    host, tallies = web1
    report = reports.host_report(host)
    plan = report.plan

    assert plan is not None and plan.score == report.posture.score and not plan.drifted
    gains = {f.group.rule_id: f.gain for f in plan.fixes}
    for rule_id, gain in gains.items():
        assert gain == rescore(tallies, {rule_id}) - plan.score > 0
    assert [f.gain for f in plan.fixes] == sorted(gains.values(), reverse=True)
    assert plan.combined == rescore(tallies, set(gains))
    # The accepted failure is out of the score: the critical rule counts 4 failures, and
    # the accepted container is not named among the subjects to fix.
    assert tallies["CTR-PRIVILEGED"] == Tally(Severity.CRITICAL, 15, 4)
    privileged = next(f for f in plan.fixes if f.group.rule_id == "CTR-PRIVILEGED")
    assert privileged.subjects == ["api-1", "api-2", "api-3", "api-4"]
    assert privileged.named == ["api-1", "api-2", "api-3"] and privileged.more == 1


def test_the_plan_costs_no_query(web1, django_assert_num_queries):
    host, _ = web1
    report = reports.host_report(host)
    summary = report.posture.rule_summary

    with django_assert_num_queries(0):
        fixfirst.plan(summary, report.posture.score, report.failing, report.profile)


def test_a_rule_the_profile_turned_off_is_not_in_the_plan(web1):
    host, _ = web1
    RuleOverride.objects.create(rule_id="DMN-ICC", host=host, action="disable", reason="-")

    plan = reports.host_report(host).plan

    assert plan is not None and "DMN-ICC" not in [f.group.rule_id for f in plan.fixes]


def test_only_accepted_failures_leave_nothing_to_plan():
    host = HostFactory(name="calm")
    FindingFactory(host=host, rule_id="CTR-PRIVILEGED", accepted=True)
    summary = {"CTR-PRIVILEGED": entry(3, 1), "CTR-USER": entry(4, 0)}
    HostPostureFactory(host=host, rule_summary=summary, score=100)

    assert reports.host_report(host).plan is None


def test_the_page_shows_the_plan_and_its_total(client: Client, web1):
    host, tallies = web1
    client.force_login(UserFactory())

    html = client.get(reverse("host-detail", args=[host.name])).content.decode()
    plan = reports.host_report(host).plan

    assert plan is not None
    assert 'id="fix-first"' in html and 'href="#fix-first"' in html
    assert f"raises the score from {plan.score} to {plan.combined}." in html
    first = plan.fixes[0]
    assert f'data-rule="{first.group.rule_id}"' in html and f"+{first.gain}" in html
    for section in ("findings", "containers", "images", "not-assessed", "history"):
        assert f'id="{section}"' in html and f'href="#{section}"' in html


def test_long_subject_lists_load_on_demand(client: Client):
    host = HostFactory(name="crowd", labels={"team": "pay"})
    HostPostureFactory(host=host, rule_summary={"CTR-PRIVILEGED": entry(0, 12)}, score=0)
    for i in range(12):
        FindingFactory(host=host, subject_name=f"svc-{i:02d}")
    client.force_login(UserFactory())
    url = reverse("host-rule-subjects", args=["crowd", "CTR-PRIVILEGED"])

    page = client.get(reverse("host-detail", args=["crowd"])).content.decode()
    fragment = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    whole = client.get(url).content.decode()

    assert f'hx-get="{url}"' in page and f'href="{url}"' in page and "show all 12" in page
    card = page[page.index('id="subjects-ctr-privileged"') : page.index("show all 12")]
    assert card.count('<li class="subject') == 5
    assert fragment.count('<li class="subject') == 12 and "<html" not in fragment
    assert "<html" in whole and whole.count('<li class="subject') == 12
    assert client.get(reverse("host-rule-subjects", args=["crowd", "CTR-USER"])).status_code == 404


def test_subjects_of_another_teams_host_are_not_found(client: Client):
    host = HostFactory(name="elsewhere", labels={"team": "pay"})
    FindingFactory(host=host)
    web, _ = Team.objects.get_or_create(name="Web", label="web")
    client.force_login(UserFactory(role="viewer", role__teams=[web]))

    url = reverse("host-rule-subjects", args=["elsewhere", "CTR-PRIVILEGED"])

    assert client.get(url).status_code == 404


def unknown(cause: str, reason: str) -> dict[str, object]:
    return {**entry(), "unknown": 1, "causes": {cause: 1}, "reasons": [reason]}


def test_not_assessed_is_one_line_per_reason_with_what_would_assess_it(client: Client):
    summary = {
        "DMN-ICC": entry(1, 0),
        "DMN-DOCKER-GROUP": unknown("no_ssh", "host-level check: no SSH access"),
        "DMN-AUDIT-DOCKERD": unknown("no_ssh", "host-level check: no SSH access"),
        "IMG-SETUID": unknown("data_missing", "file modes need the deep image read"),
        "IMG-VULN-STALE": unknown(
            "data_missing", "not assessed: no vulnerability data for Debian:12"
        ),
    }
    host = HostFactory(name="gaps")
    posture = HostPostureFactory(host=host, rule_summary=summary)
    posture.current_scan.host_access = "local"
    posture.current_scan.save()
    client.force_login(UserFactory())

    html = client.get(reverse("host-detail", args=["gaps"])).content.decode()
    groups = {g.action: [r.rule_id for r in g.rules] for g in reports.coverage(summary).causes}

    assert "Host checks: read locally on the worker" in html
    assert groups == {
        "ssh": ["DMN-AUDIT-DOCKERD", "DMN-DOCKER-GROUP"],
        "deep": ["IMG-SETUID"],
        "vuln_data": ["IMG-VULN-STALE"],
    }
    assert "Add SSH access to assess 2 more host-level rules." in html
    assert 'href="/hosts/gaps/edit"' in html
    assert "Set this host's image scan to deep" in html
    assert "no vulnerability data for Debian:12" in html
    # One line per reason, not one row per rule.
    assert html.count('class="coverage-cause') == len(groups)

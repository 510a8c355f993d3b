"""The rule catalogue's "Fix first across the fleet" (issue 16): per rule, the fleet score
(the mean of the hosts' scores) gained by fixing it on every host in scope that fails it,
held equal to re-scoring each host with rules.score_host, in a bounded number of queries."""

from __future__ import annotations

import random

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from access.models import Team
from access.scope import Scope
from findings import fixfirst
from findings.fixfirst import rescore, tallies_of
from findings.models import HostPosture
from rules import REGISTRY
from tests.factories import (
    FindingFactory,
    HostFactory,
    HostPostureFactory,
    ScanRunFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

RULES = ("CTR-PRIVILEGED", "CTR-USER", "CTR-CPU-LIMIT", "DMN-ICC", "CTR-HOST-PID")


@pytest.fixture(autouse=True)
def no_cached_ranking():
    cache.clear()


def entry(passed: int, failed: int) -> dict[str, int]:
    return {"pass": passed, "fail": failed, "na": 0, "unknown": 0, "manual": 0}


def add_host(name: str, team: str, rng: random.Random) -> None:
    """A host with random passes and failures of RULES, some failures accepted."""
    host = HostFactory(name=name, labels={"team": team})
    summary = {}
    for rule_id in RULES:
        subjects = rng.randrange(1, 9)
        failed = rng.randrange(0, subjects + 1) if rng.random() < 0.6 else 0
        summary[rule_id] = entry(subjects - failed, failed)
        severity = int(REGISTRY[rule_id].severity)
        for i in range(failed):
            FindingFactory(
                host=host,
                rule_id=rule_id,
                severity=severity,
                subject_name=f"{rule_id}-{i}",
                accepted=i == 0 and rng.random() < 0.3,
            )
    HostPostureFactory(host=host, rule_summary=summary)


def reference(scope_hosts: list[str]) -> dict[str, tuple[int, float]]:
    """Per rule: hosts failing it (unaccepted) and the fleet gain, host by host with rescore."""
    gains: dict[str, list[int]] = {}
    hosts = 0
    for posture in HostPosture.objects.filter(host__name__in=scope_hosts):
        accepted: dict[str, tuple[int, int]] = {}
        for finding in posture.host.findings.filter(resolved_at__isnull=True):
            level, n = accepted.get(finding.rule_id, (finding.severity, 0))
            accepted[finding.rule_id] = (level, n + finding.accepted)
        tallies = tallies_of(posture.rule_summary, accepted)
        base = rescore(tallies)
        if base is None:
            continue
        hosts += 1
        for rule_id, tally in tallies.items():
            if tally.failed:
                gains.setdefault(rule_id, []).append(rescore(tallies, {rule_id}) - base)
    return {r: (len(g), sum(g) / hosts) for r, g in gains.items() if sum(g) > 0}


def test_the_ranking_is_each_host_rescored_by_score_host():
    rng = random.Random(16)
    names = [f"h{i:02d}" for i in range(25)]
    for name in names:
        add_host(name, "pay" if name < "h12" else "web", rng)

    ranking = fixfirst.fleet_ranking(Scope.everything())

    expected = reference(names)
    got = {f.rule_id: (f.hosts, f.gain) for f in ranking.fixes}
    assert got.keys() == expected.keys()
    for rule_id, (hosts, gain) in expected.items():
        assert got[rule_id][0] == hosts and got[rule_id][1] == pytest.approx(gain)
    assert [f.gain for f in ranking.fixes] == sorted((f.gain for f in ranking.fixes), reverse=True)
    assert ranking.hosts == 25


def test_a_teams_ranking_counts_its_hosts_only():
    rng = random.Random(17)
    names = [f"h{i:02d}" for i in range(10)]
    for name in names:
        add_host(name, "pay" if name < "h05" else "web", rng)

    ranking = fixfirst.fleet_ranking(Scope.of_teams(["pay"]))

    assert ranking.hosts == 5
    expected = reference([n for n in names if n < "h05"])
    assert {f.rule_id: f.hosts for f in ranking.fixes} == {r: h for r, (h, _g) in expected.items()}


def test_the_ranking_is_cached_until_a_scan_stores_a_new_picture(
    django_assert_num_queries, monkeypatch
):
    monkeypatch.setattr(fixfirst, "MAX_AGE", 0.0)
    rng = random.Random(18)
    for i in range(3):
        add_host(f"h{i}", "pay", rng)
    fixfirst.fleet_ranking(Scope.everything())

    with django_assert_num_queries(1):  # the version only
        fixfirst.fleet_ranking(Scope.everything())

    posture = HostPosture.objects.get(host__name="h0")
    posture.current_scan = ScanRunFactory(host=posture.host)
    posture.save()
    with django_assert_num_queries(3):  # the version, the pictures, the open findings
        fixfirst.fleet_ranking(Scope.everything())


def test_a_recent_ranking_is_served_while_scans_come_in(django_assert_num_queries):
    rng = random.Random(18)
    add_host("h0", "pay", rng)
    first = fixfirst.fleet_ranking(Scope.everything())
    add_host("h1", "pay", rng)

    with django_assert_num_queries(1):  # within MAX_AGE: the version only
        assert fixfirst.fleet_ranking(Scope.everything()) == first


def test_the_catalogue_page_says_what_fixing_a_rule_across_the_fleet_is_worth(client: Client):
    for name in ("a", "b"):
        host = HostFactory(name=name, labels={"team": "pay"})
        FindingFactory(host=host, rule_id="CTR-PRIVILEGED", subject_name="api")
        HostPostureFactory(
            host=host,
            rule_summary={"CTR-PRIVILEGED": entry(1, 1), "CTR-USER": entry(2, 0)},
        )
    host = HostFactory(name="c", labels={"team": "web"})
    HostPostureFactory(host=host, rule_summary={"CTR-USER": entry(2, 0)})
    pay, _ = Team.objects.get_or_create(name="Pay", label="pay")
    client.force_login(UserFactory())

    html = client.get(reverse("rules")).content.decode()
    gain = fixfirst.fleet_ranking(Scope.everything()).of("CTR-PRIVILEGED")

    assert gain is not None and gain.hosts == 2
    assert "Fix first across the fleet" in html
    words = f"fixing CTR-PRIVILEGED on 2 hosts raises the fleet score by {gain.rounded:g}"
    assert words in html
    # A team's account: the ranking over its hosts only (2 hosts, the mean over 2).
    client.force_login(UserFactory(username="pat", role="viewer", role__teams=[pay]))
    scoped = client.get(reverse("rules")).content.decode()
    mine = fixfirst.fleet_ranking(Scope.of_teams(["pay"])).of("CTR-PRIVILEGED")
    assert mine is not None and mine.gain > gain.gain
    assert f"raises the fleet score by {mine.rounded:g}" in scoped
    # The table's htmx swaps do not compute the ranking.
    swap = client.get(reverse("rules") + "?sort=id", HTTP_HX_REQUEST="true").content.decode()
    assert "Fix first across the fleet" not in swap


def test_the_catalogue_costs_the_same_for_3_or_30_hosts(client: Client):
    rng = random.Random(19)
    client.force_login(UserFactory())

    def measure() -> int:
        cache.clear()
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("rules")).status_code == 200
        return len(ctx.captured_queries)

    for i in range(3):
        add_host(f"h{i:02d}", "pay", rng)
    few = measure()
    for i in range(3, 30):
        add_host(f"h{i:02d}", "pay", rng)
    assert measure() == few

"""RuleTally, the rule catalogue's per-rule fleet totals, always equals summing every host's
rule summary (catalogue.fleet_stats, the reference), whichever way the summaries change:
scans, failures, hosts saved or deleted through the ORM, rebuilds, concurrent writers."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from findings import tallies
from findings.models import HostPosture, RuleTally
from hosts.models import Host
from rules import catalogue as cat
from rules import evaluate, score_host
from rules.facts import ContainerFacts, HostFacts, ImageFacts
from scans import finish
from scans.models import ScanRun
from scans.transports import ErrorClass
from tests.factories import HostFactory, HostPostureFactory, ScanRunFactory
from tests.scans import fake

pytestmark = pytest.mark.django_db


def facts(*containers: dict[str, Any]) -> HostFacts:
    """A daemon running one container per set of HostConfig changes given."""
    base = fake.responses()
    inspect = base[f"/containers/{fake.CID}/json"]
    return HostFacts(
        version=base["/version"],
        info=base["/info"],
        containers=[
            ContainerFacts(
                id=f"{n:064x}",
                inspect={**inspect, "Name": f"/c{n}", "HostConfig": {**inspect["HostConfig"], **c}},
            )
            for n, c in enumerate(containers)
        ],
        images=[ImageFacts(id=fake.IID, inspect={"Config": {"User": ""}}, history=[])],
    )


def scan(host: Host, picture: HostFacts) -> ScanRun:
    run = ScanRunFactory(host=host, active=True)
    evaluations = evaluate(picture)
    finish.store_success(run, picture, evaluations, score_host(evaluations), 10, "1.41")
    return run


def fail(host: Host) -> None:
    finish.store_failure(ScanRunFactory(host=host, active=True), ErrorClass.UNREACHABLE, "no", 5)


def assert_exact() -> None:
    reference = cat.fleet_stats(HostPosture.objects.values_list("rule_summary", flat=True))
    assert tallies.fleet_stats() == reference


def tally_writes(queries: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in queries.captured_queries
        if "scans_ruletally" in q["sql"] and not q["sql"].startswith("SELECT")
    ]


def test_tallies_follow_scans_failures_and_deletions() -> None:
    """GIVEN hosts scanned, rescanned with changes, unchanged, failing and deleted
    THEN after every step the tallies equal the sum over the stored summaries."""
    web, db, new = (HostFactory(name=n) for n in ("web", "db", "new"))
    scan(web, facts({"Privileged": True}, {}))
    scan(db, facts({"CapAdd": ["SYS_ADMIN"]}))
    assert_exact()
    assert tallies.fleet_stats().hosts == 2
    assert RuleTally.objects.filter(rule_id="CTR-PRIVILEGED", failing=1).exists()

    scan(web, facts({}, {"ReadonlyRootfs": True}, {"NetworkMode": "host"}))  # changed
    assert_exact()
    assert tallies.fleet_stats().of("CTR-PRIVILEGED").hosts_failing == 0

    summary = HostPosture.objects.get(host=db).rule_summary
    fail(db)  # the last good picture stays, and so do its tallies
    assert HostPosture.objects.get(host=db).rule_summary == summary
    assert_exact()

    fail(new)  # a posture row without a picture: not a fleet host
    assert tallies.fleet_stats().hosts == 2
    scan(new, facts({"Privileged": True}))  # its first picture, on the existing row
    assert_exact()
    assert tallies.fleet_stats().hosts == 3

    db.delete()
    assert_exact()
    assert tallies.fleet_stats().hosts == 2


def test_unchanged_rescan_writes_no_tally_row() -> None:
    host = HostFactory(name="steady")
    scan(host, facts({"Privileged": True}, {}))
    with CaptureQueriesContext(connection) as queries:
        scan(host, facts({"Privileged": True}, {}))
    assert tally_writes(queries) == []
    assert_exact()


def test_changed_rescan_writes_only_the_rules_that_changed() -> None:
    host = HostFactory(name="fixed")
    scan(host, facts({"Privileged": True}))
    before = HostPosture.objects.get(host=host).rule_summary
    with CaptureQueriesContext(connection) as queries:
        scan(host, facts({}))
    changed = cat.contribution_delta(before, HostPosture.objects.get(host=host).rule_summary)
    assert "CTR-PRIVILEGED" in changed and len(changed) < 5
    updates = [sql for sql in tally_writes(queries) if sql.startswith("UPDATE")]
    assert len(updates) == len(changed)
    assert_exact()


def test_rows_saved_and_deleted_through_the_orm_are_counted() -> None:
    """GIVEN postures written by the ORM (the admin, factories) rather than by a scan."""
    summary = {"CTR-PRIVILEGED": {"pass": 2, "fail": 1}, "CTR-USER": {"na": 1}}
    posture = HostPostureFactory(host=HostFactory(name="a"), rule_summary=summary)
    HostPostureFactory(host=HostFactory(name="b"), rule_summary={"CTR-USER": {"pass": 3}})
    assert_exact()

    posture.rule_summary = {"CTR-PRIVILEGED": {"unknown": 1}}
    posture.save()
    assert_exact()
    posture.consecutive_failures = 4
    with CaptureQueriesContext(connection) as queries:
        posture.save(update_fields=["consecutive_failures"])
    assert len(queries) == 1  # nothing read or written for the tallies

    HostPosture.objects.filter(pk=posture.pk).delete()
    assert_exact()
    Host.objects.all().delete()
    assert_exact()
    assert not RuleTally.objects.exclude(
        passing=0, failing=0, hosts_assessed=0, hosts_failing=0, hosts_not_applicable=0
    ).exists()


def test_rebuild_heals_drift() -> None:
    """GIVEN summaries written around the ORM and a tally knocked off
    WHEN the tallies are rebuilt (the command beat's task also runs)
    THEN they are exact again, and a second rebuild finds nothing to correct."""
    scan(HostFactory(name="a"), facts({"Privileged": True}))
    HostPostureFactory(host=HostFactory(name="b"))
    HostPosture.objects.filter(host__name="b").update(
        rule_summary={"CTR-PRIVILEGED": {"fail": 2}, "NOT-IN-CATALOGUE": {"pass": 1}}
    )
    RuleTally.objects.filter(rule_id="CTR-PRIVILEGED").update(passing=99)
    RuleTally.objects.create(rule_id="STALE", failing=3)
    assert tallies.fleet_stats() != cat.fleet_stats(
        HostPosture.objects.values_list("rule_summary", flat=True)
    )

    # The host count (b has a picture now), CTR-PRIVILEGED, NOT-IN-CATALOGUE and STALE.
    assert tallies.rebuild_rule_tallies() == 4
    assert_exact()
    assert not RuleTally.objects.filter(rule_id="STALE").exists()
    out = io.StringIO()
    call_command("rebuild_rule_tallies", stdout=out)
    assert out.getvalue() == "rule tallies rebuilt: 0 row(s) corrected\n"


def test_contribution_matches_the_reference_per_host() -> None:
    """Edge cases of one summary: what fleet_stats counts for a single host is exactly its
    contribution, with every other catalogue rule not assessed."""
    summaries: list[Any] = [
        {},
        None,
        ["not", "a", "dict"],
        {"CTR-PRIVILEGED": "odd", "CTR-USER": {"pass": -3, "fail": "2"}},
        {"CTR-USER": {"na": 2, "manual": 1}, "CTR-PRIVILEGED": {"na": 1, "unknown": 0}},
    ]
    for summary in summaries:
        assert cat.fleet_stats([summary]) == cat.stats_from_totals(cat.contribution(summary))
    privileged = cat.fleet_stats([summaries[-1]]).of("CTR-PRIVILEGED")
    assert privileged.hosts_not_applicable == 1 and privileged.hosts_not_assessed == 0
    user = cat.fleet_stats([summaries[-1]]).of("CTR-USER")
    assert user.hosts_not_applicable == 0 and user.hosts_not_assessed == 1


def test_rules_pages_read_the_tallies(client: Any) -> None:
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="reader"))
    scan(HostFactory(name="a"), facts({"Privileged": True}, {}))
    RuleTally.objects.filter(rule_id="CTR-PRIVILEGED").update(failing=41)  # only here

    data = client.get("/rules.json").json()
    row = next(r for r in data["rules"] if r["id"] == "CTR-PRIVILEGED")
    assert row["fleet"]["failing"] == 41
    assert data["fleet"]["hosts"] == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers: PostgreSQL")
def test_concurrent_scans_of_different_hosts_stay_exact() -> None:
    """GIVEN four hosts scanned at once, over and over, their pictures flipping between
    states that share most rules (so their tally rows overlap)
    THEN no scan deadlocks or fails, and the tallies end exact."""
    hosts = [Host.objects.create(name=f"h{i}", endpoint="unix:///tmp/none.sock") for i in range(4)]
    pictures = [
        facts({"Privileged": True}, {}),
        facts({}, {"CapAdd": ["SYS_ADMIN"]}, {"NetworkMode": "host"}),
        facts({"ReadonlyRootfs": True}),
    ]
    rounds = 6
    barrier = threading.Barrier(len(hosts))
    errors: list[BaseException] = []

    def worker(n: int, host: Host) -> None:
        try:
            for r in range(rounds):
                barrier.wait()
                scan(host, pictures[(n + r) % len(pictures)])
        except BaseException as exc:  # reported below: a thread's exception is lost otherwise
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n, h)) for n, h in enumerate(hosts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert ScanRun.objects.filter(status=ScanRun.Status.SUCCEEDED).count() == 4 * rounds
    assert_exact()
    assert tallies.rebuild_rule_tallies() == 0

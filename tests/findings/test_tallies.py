"""The rule catalogue's per-rule fleet totals, summed from each host's RuleContribution
rows, always equal summing every host's rule summary (catalogue.fleet_stats, the
reference), whichever way the pictures change: scans, failures, hosts deleted, concurrent
scans. Only the host being stored has rows written, and nothing else writes them."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext

from findings import tallies
from findings.models import HostPosture, RuleContribution
from hosts.models import Host
from rules import catalogue as cat
from rules import evaluate, score_host
from rules.facts import ContainerFacts, HostFacts, ImageFacts
from scans import finish
from scans.models import ScanRun
from scans.transports import ErrorClass
from tests.factories import HostFactory, ScanRunFactory
from tests.scans import fake

pytestmark = pytest.mark.django_db

TABLE = RuleContribution._meta.db_table


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


def contribution_writes(queries: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in queries.captured_queries
        if TABLE in q["sql"] and not q["sql"].lstrip().startswith("SELECT")
    ]


def rows_of(host: Host) -> dict[str, tuple[int, ...]]:
    return tallies.stored_contribution(host.pk)


def row_versions(host: Host) -> dict[str, str]:
    """Per rule, where the host's row physically is: a row updated, or deleted and inserted
    again even with the same values, moves (PostgreSQL's ctid, SQLite's rowid)."""
    where = "ctid::text" if connection.vendor == "postgresql" else "rowid"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT rule_id, {where} FROM {TABLE} WHERE posture_id = %s", [host.pk])
        return {rule_id: str(version) for rule_id, version in cursor.fetchall()}


def test_tallies_follow_scans_failures_and_deletions() -> None:
    """GIVEN hosts scanned, rescanned with changes, unchanged, failing and deleted
    THEN after every step the tallies equal the sum over the stored summaries."""
    web, db, new = (HostFactory(name=n) for n in ("web", "db", "new"))
    scan(web, facts({"Privileged": True}, {}))
    scan(db, facts({"CapAdd": ["SYS_ADMIN"]}))
    assert_exact()
    assert tallies.fleet_stats().hosts == 2
    assert rows_of(web)["CTR-PRIVILEGED"][1] == 1  # one failing subject

    scan(web, facts({}, {"ReadonlyRootfs": True}, {"NetworkMode": "host"}))  # changed
    assert_exact()
    assert tallies.fleet_stats().of("CTR-PRIVILEGED").hosts_failing == 0

    summary = HostPosture.objects.get(host=db).rule_summary
    fail(db)  # the last good picture stays, and so do its tallies
    assert HostPosture.objects.get(host=db).rule_summary == summary
    assert_exact()

    fail(new)  # a posture row without a picture: not a fleet host
    assert tallies.fleet_stats().hosts == 2
    assert rows_of(new) == {}
    scan(new, facts({"Privileged": True}))  # its first picture, on the existing row
    assert_exact()
    assert tallies.fleet_stats().hosts == 3

    db.delete()  # its rows go with it (cascade): no receiver involved
    assert_exact()
    assert tallies.fleet_stats().hosts == 2
    HostPosture.objects.filter(host=new).delete()  # the posture alone: the same
    assert_exact()
    Host.objects.all().delete()
    assert not RuleContribution.objects.exists()


def test_unchanged_rescan_writes_no_contribution_row() -> None:
    host = HostFactory(name="steady")
    scan(host, facts({"Privileged": True}, {}))
    with CaptureQueriesContext(connection) as queries:
        scan(host, facts({"Privileged": True}, {}))
    assert contribution_writes(queries) == []
    assert_exact()


def test_changed_rescan_rewrites_only_the_rules_that_changed() -> None:
    host = HostFactory(name="fixed")
    scan(host, facts({"Privileged": True}))
    before = HostPosture.objects.get(host=host).rule_summary
    with CaptureQueriesContext(connection) as queries:
        scan(host, facts({}))
    changed = cat.contribution_delta(before, HostPosture.objects.get(host=host).rule_summary)
    assert "CTR-PRIVILEGED" in changed and len(changed) < 5
    # One DELETE of the rows that changed and one INSERT of their new values, for any number
    # of rules; never an UPDATE of a row.
    assert [sql.split()[0] for sql in contribution_writes(queries)] == ["DELETE", "INSERT"]
    assert_exact()


def test_changed_rescan_leaves_the_other_rules_rows_in_place() -> None:
    host = HostFactory(name="fixed")
    scan(host, facts({"Privileged": True}))
    # Rows after this host's, so that SQLite cannot hand a deleted row's rowid (the
    # highest) to the next row inserted.
    scan(HostFactory(name="later"), facts({}))
    before, versions = HostPosture.objects.get(host=host).rule_summary, row_versions(host)
    scan(host, facts({}))
    changed = cat.contribution_delta(before, HostPosture.objects.get(host=host).rule_summary)
    after = row_versions(host)
    moved = {
        rule_id
        for rule_id in versions.keys() | after.keys()
        if versions.get(rule_id) != after.get(rule_id)
    }
    # The host's row "*" too: it carries the revision that tells the pages to sum again.
    assert moved == changed.keys() | {cat.HOSTS}


def test_pages_sum_again_only_after_a_change() -> None:
    """The sums are cached, keyed by the hosts' revisions: a read with nothing changed
    costs one small statement, and any change (a scan, a host deleted) is seen at once."""
    web, db = HostFactory(name="web"), HostFactory(name="db")
    scan(web, facts({"Privileged": True}))
    scan(db, facts({}))
    assert_exact()
    with CaptureQueriesContext(connection) as queries:
        tallies.fleet_stats()
    assert len(queries) == 1
    scan(web, facts({"Privileged": True}))  # unchanged: the cache stays good
    with CaptureQueriesContext(connection) as queries:
        tallies.fleet_stats()
    assert len(queries) == 1

    scan(web, facts({}))
    assert_exact()
    db.delete()
    assert_exact()
    assert tallies.fleet_stats().hosts == 1


def test_a_scan_writes_no_row_of_another_host() -> None:
    """GIVEN two hosts with pictures, whose rows share every rule
    WHEN one of them is rescanned with a different picture
    THEN the other host's rows stay as they were, where they were (not even rewritten with
    the same values), and no row is updated in place: the scans of two hosts share no row
    to update or lock."""
    this, other = HostFactory(name="this"), HostFactory(name="other")
    scan(this, facts({"Privileged": True}, {}))
    scan(other, facts({"Privileged": True}, {}))
    others, versions = rows_of(other), row_versions(other)
    assert others.keys() & rows_of(this).keys() >= {cat.HOSTS, "CTR-PRIVILEGED"}

    with CaptureQueriesContext(connection) as queries:
        scan(this, facts({}, {"CapAdd": ["SYS_ADMIN"]}))

    assert contribution_writes(queries), "the picture changed: this host's rows were rewritten"
    assert not [sql for sql in contribution_writes(queries) if sql.startswith("UPDATE")]
    assert (rows_of(other), row_versions(other)) == (others, versions)
    assert_exact()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL")
def test_a_scan_waits_for_no_lock_on_another_host() -> None:
    """GIVEN another host's posture and contribution rows locked by a transaction that
    stays open (a scan of it storing, a rebuild)
    WHEN this host's scan stores a changed picture, refusing to wait for any lock
    THEN it succeeds: the scan path locks no row but its own host's."""
    this, other = (Host.objects.create(name=n, endpoint="unix:///tmp/none.sock") for n in "ab")
    scan(this, facts({"Privileged": True}, {}))
    scan(other, facts({"Privileged": True}, {}))
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                list(HostPosture.objects.select_for_update().filter(pk=other.pk))
                list(RuleContribution.objects.select_for_update().filter(posture_id=other.pk))
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '1s'")
        try:
            scan(this, facts({}, {"CapAdd": ["SYS_ADMIN"]}))
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
    finally:
        release.set()
        holder.join()
    assert ScanRun.objects.filter(host=this, status=ScanRun.Status.SUCCEEDED).count() == 2
    assert_exact()


def test_a_summary_written_around_the_store_does_not_stay_wrong() -> None:
    """GIVEN a host's summary overwritten by a queryset update(), around findings.store
    THEN the rebuild tool names the host and rules it finds wrong, and the host's next scan
    puts its rows right by itself: the store compares the new contribution with the rows
    stored, not with the previous summary, so no error is carried forward."""
    host, steady = HostFactory(name="a"), HostFactory(name="b")
    picture = facts({"Privileged": True}, {})
    scan(host, picture)
    scan(steady, facts({}))
    HostPosture.objects.filter(host=host).update(
        rule_summary={"CTR-PRIVILEGED": {"fail": 2}, "NOT-IN-CATALOGUE": {"pass": 1}}
    )
    assert tallies.fleet_stats() != cat.fleet_stats(
        HostPosture.objects.values_list("rule_summary", flat=True)
    )

    # The next scan, of the picture the rows were computed from: a delta of old and new
    # summaries would write nothing here, and leave the rows matching neither.
    scan(host, picture)
    assert_exact()

    good = HostPosture.objects.get(host=host).rule_summary
    bad = {"CTR-PRIVILEGED": {"fail": 2}}
    HostPosture.objects.filter(host=host).update(rule_summary=bad)
    report = tallies.rebuild_contributions()
    assert report.hosts_checked == 2
    assert report.corrected == {host.pk: sorted(cat.contribution_delta(good, bad))}
    assert_exact()
    out = io.StringIO()
    call_command("rebuild_rule_contributions", stdout=out)
    assert out.getvalue() == "rule contributions rebuilt: 0 row(s) of 0 of 2 host(s) corrected\n"


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
    host = HostFactory(name="a")
    scan(host, facts({"Privileged": True}, {}))
    rows = RuleContribution.objects.filter(posture_id=host.pk, rule_id="CTR-PRIVILEGED")
    rows.update(failing=41)  # only here

    data = client.get("/rules.json").json()
    row = next(r for r in data["rules"] if r["id"] == "CTR-PRIVILEGED")
    assert row["fleet"]["failing"] == 41
    assert data["fleet"]["hosts"] == 1


@pytest.mark.django_db(transaction=True)
def test_an_upgraded_database_shows_the_same_numbers() -> None:
    """GIVEN a database with RuleTally (findings 0001), pictures and their tallies
    WHEN it migrates to per-host contributions (findings 0002)
    THEN the pages show the numbers the tallies held; and migrating back fills them again."""
    before, after = [("findings", "0001_initial")], [("findings", "0002_rulecontribution")]
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(before)
        old = executor.loader.project_state(before).apps
        summaries = [
            {"CTR-PRIVILEGED": {"pass": 2, "fail": 1}, "CTR-USER": {"na": 1}},
            {"CTR-USER": {"pass": 3}, "NOT-IN-CATALOGUE": {"fail": 1}},
            {},  # a posture without a picture: no host to count
        ]
        for n, summary in enumerate(summaries):
            host = old.get_model("hosts", "Host").objects.create(
                name=f"old{n}", endpoint="unix:///var/run/docker.sock"
            )
            old.get_model("findings", "HostPosture").objects.create(host=host, rule_summary=summary)
        tally = old.get_model("findings", "RuleTally")
        for rule_id, values in cat.fleet_totals(summaries).items():
            tally.objects.create(rule_id=rule_id, **dict(zip(tallies.COLUMNS, values, strict=True)))
        shown = cat.stats_from_totals(
            {row[0]: row[1:] for row in tally.objects.values_list("rule_id", *tallies.COLUMNS)}
        )

        executor = MigrationExecutor(connection)
        executor.migrate(after)
        assert tallies.fleet_stats() == shown == cat.fleet_stats(summaries)
        assert tallies.rebuild_contributions().corrected == {}

        executor = MigrationExecutor(connection)
        executor.migrate(before)
        tally = executor.loader.project_state(before).apps.get_model("findings", "RuleTally")
        rows = tally.objects.values_list("rule_id", *tallies.COLUMNS)
        assert cat.stats_from_totals({row[0]: row[1:] for row in rows}) == shown
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers: PostgreSQL")
def test_concurrent_scans_of_different_hosts_stay_exact() -> None:
    """GIVEN four hosts scanned at once, over and over, their pictures flipping between
    states that share most rules
    THEN no scan deadlocks or fails, the tallies end exact, and the rebuild tool finds
    nothing to correct."""
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
    assert tallies.rebuild_contributions().corrected == {}

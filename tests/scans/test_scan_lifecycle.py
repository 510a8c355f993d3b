"""A scan becomes the host's picture only when complete; findings live as a lifecycle."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from findings.models import Container, Finding, HostPosture, Image, ScoreSample
from hosts.models import Host
from lab.fake_engine import FakeEngine, Fault
from scans import services
from scans.models import ScanRun
from scans.transports import ErrorClass, Limits
from tests.scans.fake import CID, HOSTILE, responses

pytestmark = pytest.mark.django_db
LIMITS = Limits(deadline=5, connect_timeout=2, read_timeout=2)


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    fake = FakeEngine(
        Path(f"/tmp/pst-fake-{time.monotonic_ns()}.sock"), responses(CapAdd=["SYS_ADMIN"])
    ).start()
    yield fake
    fake.stop()


@pytest.fixture
def host(engine: FakeEngine) -> Host:
    return Host.objects.create(name="fake", endpoint=engine.url)


def scan(host: Host) -> ScanRun:
    run, created = services.request_scan(host, enqueue=False)
    assert created
    return services.run_scan(run.pk, LIMITS)


def test_first_scan_stores_picture_findings_and_one_score_row(host: Host) -> None:
    run = scan(host)
    assert run.status == ScanRun.Status.SUCCEEDED, run.error_detail
    posture = HostPosture.objects.get(host=host)
    assert posture.current_scan_id == run.pk
    assert posture.score is not None and 0 <= posture.score <= 100
    assert ScoreSample.objects.filter(host=host).count() == 1
    assert Container.objects.get(host=host).name == "web"
    assert Image.objects.filter(host=host).count() == 1
    finding = Finding.objects.open().get(host=host, rule_id="CTR-CAP-ADD", subject_key=CID)
    assert {"field": "HostConfig.CapAdd", "value": '["SYS_ADMIN"]'} in finding.evidence
    # Environment values never reach storage.
    assert "hunter2" not in repr(list(Container.objects.values())) + repr(
        list(Image.objects.values())
    )


def test_unchanged_rescan_writes_only_its_own_rows(host: Host) -> None:
    scan(host)
    findings_before = list(Finding.objects.values("id", "opened_at", "evidence"))
    run, _ = services.request_scan(host, enqueue=False)
    with CaptureQueriesContext(connection) as queries:
        services.run_scan(run.pk, LIMITS)
    writes = [
        q["sql"].split()[0:3]
        for q in queries.captured_queries
        if q["sql"].startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    tables = sorted(" ".join(w) for w in writes)
    assert not any(
        "scans_finding" in t or "scans_container" in t or "scans_image" in t for t in tables
    ), tables
    assert ScoreSample.objects.filter(host=host).count() == 2
    assert list(Finding.objects.values("id", "opened_at", "evidence")) == findings_before


def test_fixed_rule_resolves_its_finding(host: Host, engine: FakeEngine) -> None:
    scan(host)
    engine.responses[f"/containers/{CID}/json"]["HostConfig"]["CapAdd"] = None
    run = scan(host)
    finding = Finding.objects.get(host=host, rule_id="CTR-CAP-ADD")
    assert finding.resolved_at is not None
    assert finding.resolved_scan_id == run.pk


def test_failed_scan_keeps_the_last_good_picture(host: Host, engine: FakeEngine) -> None:
    good = scan(host)
    posture = HostPosture.objects.get(host=host)
    open_before = set(Finding.objects.open().values_list("id", flat=True))
    engine.faults.append(Fault("notjson", path="/info"))
    bad = scan(host)
    assert bad.status == ScanRun.Status.FAILED
    assert bad.error_class == ErrorClass.MALFORMED
    after = HostPosture.objects.get(host=host)
    assert after.current_scan_id == good.pk
    assert after.score == posture.score
    assert after.last_error_class == ErrorClass.MALFORMED
    assert after.consecutive_failures == 1
    assert set(Finding.objects.open().values_list("id", flat=True)) == open_before
    assert Container.objects.filter(host=host, gone_at__isnull=True).count() == 1


def test_removed_container_resolves_and_is_marked_gone(host: Host, engine: FakeEngine) -> None:
    scan(host)
    engine.responses["/containers/json"] = []
    scan(host)
    assert Container.objects.get(host=host).gone_at is not None
    assert not Finding.objects.open().filter(host=host, subject_key=CID).exists()


def test_one_active_scan_per_host(host: Host) -> None:
    first, created = services.request_scan(host, enqueue=False)
    second, created_again = services.request_scan(host, enqueue=False)
    assert created and not created_again
    assert first.pk == second.pk
    # A second worker receiving the same scan id does not run it twice.
    services.run_scan(first.pk, LIMITS)
    again = services.run_scan(first.pk, LIMITS)
    assert ScanRun.objects.filter(host=host).count() == 1
    assert again.status == ScanRun.Status.SUCCEEDED


def test_scan_of_a_dead_worker_is_expired(host: Host) -> None:
    from django.utils import timezone

    run, _ = services.request_scan(host, enqueue=False)
    ScanRun.objects.filter(pk=run.pk).update(
        status=ScanRun.Status.RUNNING, started_at=timezone.now() - timezone.timedelta(hours=1)
    )
    fresh, created = services.request_scan(host, enqueue=False)
    assert created and fresh.pk != run.pk
    run.refresh_from_db()
    assert run.status == ScanRun.Status.INTERRUPTED


def test_hostile_names_are_stored_verbatim(host: Host, engine: FakeEngine) -> None:
    engine.responses.update(responses(name="/" + HOSTILE, Privileged=True))
    scan(host)
    assert Container.objects.get(host=host).name == HOSTILE


def test_bad_credentials_config_is_a_clear_error() -> None:
    host = Host.objects.create(name="tls-no-creds", endpoint="tcp://127.0.0.1:1")
    run = scan(host)
    assert run.status == ScanRun.Status.FAILED
    assert run.error_class == ErrorClass.CONFIGURATION


def test_dispatch_queues_due_hosts_once(host: Host, django_capture_on_commit_callbacks) -> None:
    from django.utils import timezone

    Host.objects.filter(pk=host.pk).update(next_scan_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert services.dispatch_due_scans() == 1
        assert services.dispatch_due_scans() == 0
    assert len(callbacks) == 1
    host.refresh_from_db()
    assert host.next_scan_at > timezone.now()


def test_prune_keeps_current_and_recent_runs(host: Host) -> None:
    from datetime import timedelta

    from django.utils import timezone

    old_good = scan(host)
    old_extra = scan(host)
    ScanRun.objects.filter(pk__in=[old_good.pk, old_extra.pk]).update(
        requested_at=timezone.now() - timedelta(days=40)
    )
    # The newest good scan is the current picture: it stays however old it is.
    HostPosture.objects.filter(host=host).update(current_scan=old_extra, last_scan=old_extra)
    assert services.prune_history(days=30) == 1
    assert set(ScanRun.objects.values_list("pk", flat=True)) == {old_extra.pk}
    assert ScoreSample.objects.filter(host=host).count() == 2

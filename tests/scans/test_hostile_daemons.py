"""Daemons are untrusted input: every misbehaviour ends as a classified error, in time."""

from __future__ import annotations

import json
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from hosts.credentials import Credentials
from hosts.endpoints import parse_endpoint
from hosts.models import Host
from lab.fake_engine import FakeEngine, Fault
from scans import services
from scans.collect import collect
from scans.models import ScanRun
from scans.transports import ErrorClass, Limits, ScanError, open_api
from tests.scans.fake import CID, responses

LIMITS = Limits(deadline=3, connect_timeout=2, read_timeout=2, max_bytes=1024 * 1024)
# What a busy 2-core CI machine adds to a timer: late wake-ups and thread switches, seconds
# at worst. Each bound below is a limit plus this margin, with the limits set so far apart
# that the margin still tells which one ended the wait.
MARGIN = 5.0


def socket_path() -> Path:
    # A short path: unix socket paths are limited to 107 bytes.
    return Path(f"/tmp/pst-fake-{time.monotonic_ns()}.sock")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[FakeEngine]:
    fake = FakeEngine(socket_path(), responses()).start()
    yield fake
    fake.stop()


def scan(engine: FakeEngine, limits: Limits = LIMITS) -> ScanError:
    with (
        pytest.raises(ScanError) as info,
        open_api(parse_endpoint(engine.url), Credentials(), limits) as api,
    ):
        collect(api)
    return info.value


def test_healthy_fake_collects_and_redacts(engine: FakeEngine) -> None:
    with open_api(parse_endpoint(engine.url), Credentials(), LIMITS) as api:
        facts = collect(api)
    assert [c.name for c in facts.containers] == ["web"]
    assert "hunter2" not in repr(facts)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault("notjson", path="/info"), ErrorClass.MALFORMED),
        (Fault("cut", path="/info"), ErrorClass.MALFORMED),
        (Fault("huge", path="/info"), ErrorClass.MALFORMED),
        (Fault("deep", path="/info"), ErrorClass.MALFORMED),
        (Fault("bigint", path="/info"), ErrorClass.MALFORMED),
        (Fault("status500", path="/containers/json"), ErrorClass.DAEMON_ERROR),
        (Fault("notjson", path="/_ping"), ErrorClass.MALFORMED),
    ],
)
def test_garbage_is_classified(engine: FakeEngine, fault: Fault, expected: ErrorClass) -> None:
    engine.faults.append(fault)
    assert scan(engine).error_class is expected


def test_daemon_dying_mid_scan(engine: FakeEngine) -> None:
    engine.faults.append(Fault("close", after=4))
    error = scan(engine)
    assert error.error_class in (ErrorClass.UNREACHABLE, ErrorClass.MALFORMED)


@pytest.mark.parametrize("kind", ["hang", "slow"])
def test_deadline_holds_against_hangs_and_trickles(engine: FakeEngine, kind: str) -> None:
    # The read timeout (2 s) is never hit by "slow", which sends a byte every 0.5 s for a
    # minute: only the whole-scan deadline can stop it that soon.
    engine.faults.append(Fault(kind, path="/info"))
    started = time.monotonic()
    error = scan(engine)
    assert error.error_class is ErrorClass.TIMEOUT
    assert time.monotonic() - started < LIMITS.deadline + MARGIN


def test_deadline_ends_a_hang_after_the_headers_as_a_timeout(engine: FakeEngine) -> None:
    # Headers sent, then nothing: with a read timeout past the deadline, the deadline ends it.
    engine.faults.append(Fault("hang", path="/info"))
    limits = Limits(deadline=3, connect_timeout=2, read_timeout=30, max_bytes=1024 * 1024)
    started = time.monotonic()
    error = scan(engine, limits)
    assert time.monotonic() - started < limits.deadline + MARGIN
    assert error.error_class is ErrorClass.TIMEOUT, error


def test_response_cap_holds_with_content_length(engine: FakeEngine) -> None:
    engine.responses["/info"] = {"Labels": {"x": "y" * 2_000_000}}
    error = scan(engine)
    assert error.error_class is ErrorClass.MALFORMED
    assert "cap" in error.detail


def test_api_too_old(engine: FakeEngine) -> None:
    engine.responses["/version"] = {"ApiVersion": "1.19", "Version": "1.7.1"}
    assert scan(engine).error_class is ErrorClass.API_VERSION


def test_ids_that_are_not_hashes_are_refused(engine: FakeEngine) -> None:
    engine.responses["/containers/json"] = [{"Id": "../../info"}]
    assert scan(engine).error_class is ErrorClass.MALFORMED


def test_nothing_listening() -> None:
    with (
        pytest.raises(ScanError) as info,
        open_api(parse_endpoint("unix:///tmp/pst-nothing-here.sock"), Credentials(), LIMITS) as api,
    ):
        collect(api)
    assert info.value.error_class is ErrorClass.UNREACHABLE


def test_daemon_restarted_mid_scan(engine: FakeEngine) -> None:
    """GIVEN a daemon that, at the fifth request, drops every connection (the one in
    flight too), stops listening for 300 ms, then comes back healthy
    THEN the scan in progress ends classified, in time, and the next scan succeeds."""
    engine.faults.append(Fault("restart", after=4, size=300))
    started = time.monotonic()
    error = scan(engine)
    assert error.error_class in (ErrorClass.UNREACHABLE, ErrorClass.MALFORMED), error
    assert time.monotonic() - started < LIMITS.deadline + MARGIN
    facts = collect_once_listening(engine, timeout=LIMITS.deadline + MARGIN)
    assert [c.name for c in facts.containers] == ["web"]


def collect_once_listening(engine: FakeEngine, timeout: float) -> Any:
    """Collect as soon as the daemon listens again, polling rather than guessing a pause."""
    give_up = time.monotonic() + timeout
    while True:
        try:
            with open_api(parse_endpoint(engine.url), Credentials(), LIMITS) as api:
                return collect(api)
        except ScanError as exc:
            if exc.error_class is not ErrorClass.UNREACHABLE or time.monotonic() > give_up:
                raise
            time.sleep(0.05)


def test_daemon_that_accepts_and_never_answers(engine: FakeEngine) -> None:
    engine.faults.append(Fault("silent", path="/info"))
    # A deadline far past read timeout + margin: the read timeout alone must end this.
    limits = Limits(deadline=30, connect_timeout=1, read_timeout=1, max_bytes=1024 * 1024)
    started = time.monotonic()
    assert scan(engine, limits).error_class is ErrorClass.TIMEOUT
    assert time.monotonic() - started < limits.read_timeout + MARGIN


def test_chunked_body_cut_mid_chunk(engine: FakeEngine) -> None:
    engine.faults.append(Fault("chunkcut", path="/info"))
    assert scan(engine).error_class in (ErrorClass.MALFORMED, ErrorClass.UNREACHABLE)


def test_404_outside_an_inspect_is_malformed(engine: FakeEngine) -> None:
    # NotFound used to escape collect() unclassified, ending the scan as "internal".
    del engine.responses["/info"]
    error = scan(engine)
    assert error.error_class is ErrorClass.MALFORMED
    assert "/info" in error.detail


@pytest.mark.parametrize(
    "name",
    ["/web\\ud800", "[" * 960 + "]" * 960],
    ids=["lone-surrogate", "deep-on-an-inspect-thread"],
)
def test_inspect_bodies_storage_could_not_take_are_malformed(engine: FakeEngine, name: str) -> None:
    """A lone surrogate cannot be encoded for the database or the page; a container inspect
    ~960 levels deep parses on a shallow inspect thread but would overflow json.dumps in
    storage. Both used to pass collection and crash later as internal errors."""
    # Two containers, so inspects run on the pool's threads, as on any real host.
    other = "c" * 64
    engine.responses["/containers/json"].append({"Id": other, "Names": ["/other"]})
    engine.responses[f"/containers/{other}/json"] = {
        **engine.responses[f"/containers/{CID}/json"],
        "Id": other,
        "Name": "/other",
    }
    body = json.dumps(engine.responses[f"/containers/{CID}/json"])
    if name.startswith("["):
        body = body.replace('"Labels": {}', f'"Labels": {{"x": {name}}}')
    else:
        body = body.replace('"/web"', f'"{name}"')
    engine.responses[f"/containers/{CID}/json"] = body
    assert scan(engine).error_class is ErrorClass.MALFORMED


def test_ten_megabytes_of_labels_on_one_container(engine: FakeEngine) -> None:
    """GIVEN one container whose inspect carries 10 MB of labels, streamed chunked as Go's
    net/http sends a large body (no Content-Length to refuse up front)
    THEN the scan is refused by the 1 MB cap, and the process's Python memory peaks at a
    small multiple of the cap, not of the body."""
    inspect = engine.responses[f"/containers/{CID}/json"]
    inspect["Config"]["Labels"] = {f"label{n}": "v" * 1000 for n in range(10_000)}
    body = json.dumps(inspect).encode()
    assert len(body) > 10_000_000
    engine.responses[f"/containers/{CID}/json"] = body  # built before measuring
    engine.chunked = True
    tracemalloc.start()
    try:
        error = scan(engine)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.error_class is ErrorClass.MALFORMED
    assert "cap" in error.detail
    assert peak < 4 * LIMITS.max_bytes, f"peak {peak} bytes"


@pytest.mark.django_db(transaction=True)
def test_the_rest_of_the_fleet_keeps_being_scanned() -> None:
    """GIVEN three hosts scanned at once, one of them hanging on /info
    THEN the two healthy hosts succeed while the hostile one still hangs, and the hostile
    one fails as a timeout, on its own scan only."""
    # The read timeout ends the hang (test_deadline_ends_a_hang_after_the_headers covers the
    # deadline): late enough that the healthy scans, however busy the machine, are done first.
    limits = Limits(deadline=30, connect_timeout=2, read_timeout=5, max_bytes=1024 * 1024)
    hostile = FakeEngine(socket_path(), responses(), [Fault("hang", path="/info")]).start()
    healthy = [FakeEngine(socket_path(), responses()).start() for _ in range(2)]
    engines = [hostile, *healthy]
    try:
        hosts = [
            Host.objects.create(name=f"fleet{n}", endpoint=e.url) for n, e in enumerate(engines)
        ]
        scans = [services.request_scan(h, enqueue=False)[0] for h in hosts]
        finished: dict[int, float] = {}
        started = time.monotonic()

        def worker(scan_id: int) -> None:
            try:
                services.run_scan(scan_id, limits)
                finished[scan_id] = time.monotonic() - started
            finally:
                connection.close()  # this thread's own database connection

        threads = [threading.Thread(target=worker, args=(s.pk,)) for s in scans]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(limits.read_timeout + MARGIN)
        runs = {r.host.name: r for r in ScanRun.objects.select_related("host")}
    finally:
        for e in engines:
            e.stop()
    assert runs["fleet0"].status == ScanRun.Status.FAILED
    assert runs["fleet0"].error_class == ErrorClass.TIMEOUT
    assert limits.read_timeout - 0.1 < finished[scans[0].pk] < limits.read_timeout + MARGIN
    for scan_run in scans[1:]:
        assert runs[scan_run.host.name].status == ScanRun.Status.SUCCEEDED
        # Not held up by the hanging host: done while it still hung.
        assert finished[scan_run.pk] < finished[scans[0].pk]


@pytest.mark.django_db
def test_one_object_has_a_smaller_cap_than_a_listing(tmp_path: Path) -> None:
    """A 6 MB container inspect is refused under the 4 MB object cap although the listing
    cap (32 MB) would take it: parsed, it would cost ~150 MB of Python objects per thread."""
    labels = {f"k{i}": "v" * 1000 for i in range(6000)}
    engine = FakeEngine(tmp_path / "big.sock", responses(Labels=labels)).start()
    try:
        host = Host.objects.create(name="big-object", endpoint=engine.url)
        run, _ = services.request_scan(host, enqueue=False)
        run = services.run_scan(run.pk, Limits(deadline=10, connect_timeout=2, read_timeout=5))
    finally:
        engine.stop()
    assert run.status == ScanRun.Status.FAILED
    assert run.error_class == ErrorClass.MALFORMED
    assert "4194304-byte cap" in run.error_detail

"""Daemons are untrusted input: every misbehaviour ends as a classified error, in time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hosts.credentials import Credentials
from hosts.endpoints import parse_endpoint
from posture.lab.fake_engine import FakeEngine, Fault
from scans.collect import collect
from scans.transports import ErrorClass, Limits, ScanError, open_api
from tests.scans.fake import responses

LIMITS = Limits(deadline=3, connect_timeout=2, read_timeout=2, max_bytes=1024 * 1024)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[FakeEngine]:
    # A short path: unix socket paths are limited to 107 bytes.
    fake = FakeEngine(Path(f"/tmp/pst-fake-{time.monotonic_ns()}.sock"), responses()).start()
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
    # The read timeout (2 s) is never hit by "slow", which sends a byte every 0.5 s:
    # only the whole-scan deadline can stop it.
    engine.faults.append(Fault(kind, path="/info"))
    started = time.monotonic()
    error = scan(engine)
    assert error.error_class is ErrorClass.TIMEOUT
    assert time.monotonic() - started < LIMITS.deadline + 1.5


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

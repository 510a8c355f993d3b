"""Posture's collector and scan service against simulated hosts, healthy and misbehaving."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from findings.models import Container, Finding, ScoreSample
from hosts.credentials import Credentials
from hosts.endpoints import parse_endpoint
from hosts.models import Host
from lab.sim_engine import FaultSpec, SimEngine, SimSpec
from scans import services
from scans.collect import collect
from scans.models import ScanRun
from scans.transports import ErrorClass, Limits, ScanError, open_api
from tests.system.sim.conftest import CONTAINERS

# A read timeout far longer than the deadline: only the whole-scan deadline can end a hang.
LIMITS = Limits(deadline=2, connect_timeout=1, read_timeout=30)
# What a busy 2-core CI machine adds to a timer: seconds at worst, far below the read timeout,
# so a scan ending within deadline + MARGIN was ended by the deadline.
MARGIN = 5.0


def scan_error(url: str) -> tuple[ScanError, float]:
    started = time.monotonic()
    with (
        pytest.raises(ScanError) as info,
        open_api(parse_endpoint(url), Credentials(), LIMITS) as api,
    ):
        collect(api)
    return info.value, time.monotonic() - started


def test_collector_reads_every_simulated_container(urls: dict[str, str]) -> None:
    with open_api(parse_endpoint(urls["healthy"]), Credentials(), LIMITS) as api:
        facts = collect(api)
    assert len(facts.containers) == CONTAINERS
    assert len({c.id for c in facts.containers}) == CONTAINERS
    assert len({c.name for c in facts.containers}) == CONTAINERS
    assert len(facts.images) == 3
    # The mix of settings comes from the recorded samples.
    privileged = [c for c in facts.containers if c.inspect["HostConfig"]["Privileged"]]
    assert 0 < len(privileged) < CONTAINERS
    assert facts.info["Containers"] == CONTAINERS


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("refuse", ErrorClass.UNREACHABLE),
        ("truncated", ErrorClass.MALFORMED),
        ("notjson", ErrorClass.MALFORMED),
        ("error500", ErrorClass.DAEMON_ERROR),
    ],
)
def test_faults_are_classified(urls: dict[str, str], fault: str, expected: ErrorClass) -> None:
    error, _ = scan_error(urls[fault])
    assert error.error_class is expected


@pytest.mark.parametrize("fault", ["hang", "trickle"])
def test_hangs_and_trickles_end_at_the_deadline(urls: dict[str, str], fault: str) -> None:
    error, elapsed = scan_error(urls[fault])
    assert error.error_class is ErrorClass.TIMEOUT
    assert LIMITS.deadline - 0.1 < elapsed < LIMITS.deadline + MARGIN


def test_fault_shares_are_deterministic_and_disjoint() -> None:
    spec = SimSpec(
        hosts=1000, faults=(FaultSpec("hang", fraction=0.05), FaultSpec("refuse", fraction=0.05))
    )
    assigned = spec.assign_faults()
    kinds = [fault.kind for fault in assigned.values()]
    assert kinds.count("hang") == 50 and kinds.count("refuse") == 50
    assert assigned == spec.assign_faults()


@pytest.mark.django_db
def test_unchanged_simulated_host_rescans_to_one_score_row(urls: dict[str, str]) -> None:
    host = Host.objects.create(name="sim-healthy", endpoint=urls["healthy"])
    limits = Limits(deadline=10)
    for _ in range(2):
        run, _ = services.request_scan(host, enqueue=False)
        run = services.run_scan(run.pk, limits)
        assert run.status == ScanRun.Status.SUCCEEDED, run.error_detail
    assert run.containers == CONTAINERS
    assert Container.objects.filter(host=host, gone_at=None).count() == CONTAINERS
    assert Finding.objects.open().filter(host=host).exists()
    assert ScoreSample.objects.filter(host=host).count() == 2
    # Identical documents on both cycles: nothing reopened, nothing resolved.
    assert not Finding.objects.filter(host=host).exclude(resolved_at=None).exists()


def test_tls_mode_serves_mutual_tls_and_refuses(tmp_path: Path) -> None:
    spec = SimSpec(
        hosts=2,
        containers=5,
        images=1,
        tls=True,
        directory=str(tmp_path / "sim"),
        faults=(FaultSpec("refuse", hosts=(1,)),),
    )
    with SimEngine(spec) as sim:
        paths = sim.endpoints["tls"]
        creds = Credentials(
            *(Path(paths[k]).read_text() for k in ("ca_cert", "client_cert", "client_key"))
        )
        healthy, refused = sim.hosts
        assert healthy["url"].startswith("tcp://127.0.0.1:")
        with open_api(parse_endpoint(healthy["url"]), creds, LIMITS) as api:
            assert len(collect(api).containers) == 5
        with (
            pytest.raises(ScanError) as info,
            open_api(parse_endpoint(refused["url"]), creds, LIMITS) as api,
        ):
            collect(api)
        assert info.value.error_class is ErrorClass.UNREACHABLE
        # Without a client certificate the simulated daemon refuses, as dockerd --tlsverify.
        anonymous = Credentials(creds.ca_cert, "", "")
        with (
            pytest.raises(ScanError),
            open_api(parse_endpoint(healthy["url"]), anonymous, LIMITS) as api,
        ):
            collect(api)

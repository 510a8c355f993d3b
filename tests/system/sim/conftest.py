"""One simulator per module: starting it costs ~0.3 s, and the tests only read from it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from lab.sim_engine import FaultSpec, SimEngine, SimSpec

CONTAINERS = 30
# Host index -> how it misbehaves; host 0 is healthy.
FAULTS = {1: "hang", 2: "refuse", 3: "truncated", 4: "error500", 5: "notjson", 6: "trickle"}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimEngine]:
    spec = SimSpec(
        hosts=len(FAULTS) + 1,
        containers=CONTAINERS,
        images=3,
        latency_ms=2,
        directory=f"/tmp/pst-simtest-{os.getpid()}",
        trickle_ms=200,
        faults=tuple(FaultSpec(kind, hosts=(index,)) for index, kind in FAULTS.items()),
    )
    with SimEngine(spec) as engine:
        yield engine
    shutil.rmtree(spec.directory, ignore_errors=True)


@pytest.fixture(scope="module")
def urls(sim: SimEngine) -> dict[str, str]:
    """fault kind (or "healthy") -> endpoint URL."""
    return {host["fault"] or "healthy": host["url"] for host in sim.hosts}

"""Real Podman (rootful, rootless, and a deliberately lax one) and rootless dockerd, each
with a few containers, scanned once per session (tests.system.engines.lab.scan).

Services are adopted when an earlier run left them up (POSTURE_LAB_KEEP=1), like the suite's
other lab services; containers are only created, never started (see lab.podman).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lab.images import DEFAULT_TAG, import_image
from lab.podman import LabPodman
from lab.process import running
from lab.rootless import LabRootlessDocker
from tests.system.engines.lab import (
    LAX_CONTAINERS_CONF,
    LAX_REGISTRIES_CONF,
    LIMITS_ONLY,
    OFFLINE,
    PODMAN_HARDENED,
    PODMAN_MISCONFIGURED,
    Scan,
    recreate,
    scan,
)


@pytest.fixture(scope="session")
def podman() -> Iterator[LabPodman]:
    with running(LabPodman("t-podman")) as service:
        yield service


@pytest.fixture(scope="session")
def podman_scan(podman: LabPodman) -> Scan:
    podman.import_image()
    for name, options in PODMAN_MISCONFIGURED.items():
        podman.create(name, *options)
    podman.create("pm-socket", OFFLINE, f"--volume={podman.socket_path}:/var/run/docker.sock")
    podman.create("pm-hardened", *PODMAN_HARDENED)
    # The cheat sheet's pattern, which Podman reports without naming the capability added back.
    podman.create("pm-cap-back", OFFLINE, "--cap-drop=ALL", "--cap-add=NET_BIND_SERVICE")
    return scan(podman.unix_url)


@pytest.fixture(scope="session")
def lax_podman_scan() -> Iterator[Scan]:
    service = LabPodman(
        "t-podman-lax",
        containers_conf=LAX_CONTAINERS_CONF,
        registries_conf=LAX_REGISTRIES_CONF,
        extra_args=("--log-level=debug",),
    )
    with running(service):
        yield scan(service.unix_url)


@pytest.fixture(scope="session")
def rootless_podman() -> Iterator[LabPodman]:
    with running(LabPodman("t-podman-rl", rootless=True)) as service:
        yield service


@pytest.fixture(scope="session")
def rootless_podman_scan(rootless_podman: LabPodman) -> Scan:
    rootless_podman.import_image()
    rootless_podman.create("rl-cap-add", OFFLINE, "--cap-add=SYS_ADMIN")
    rootless_podman.create("rl-limits", *LIMITS_ONLY)
    return scan(rootless_podman.unix_url)


@pytest.fixture(scope="session")
def rootless_docker() -> Iterator[LabRootlessDocker]:
    with running(LabRootlessDocker("t-dockerd-rl")) as daemon:
        yield daemon


@pytest.fixture(scope="session")
def rootless_docker_scan(rootless_docker: LabRootlessDocker) -> Scan:
    with rootless_docker.api_client() as client:
        import_image(client, DEFAULT_TAG)
        recreate(client, "rd-cap-add", cap_add=["SYS_ADMIN"])
        recreate(client, "rd-limits", mem_limit="64m", nano_cpus=500_000_000, pids_limit=64)
    return scan(rootless_docker.unix_url)

"""A rootful Podman host scanned through its Docker-compatible API, end to end.

Container rules read HostConfig/Config, which Podman's compat API fills the way dockerd
does for these options: a misconfigured container fails its rule, the hardened one passes.
"""

from __future__ import annotations

import pytest

from rules.base import Outcome
from rules.engines import engine_kind, is_rootless
from tests.system.engines.lab import PODMAN_MISCONFIGURED, Scan

pytestmark = pytest.mark.docker

# (container, rule) pairs that must fail: each container has the one misconfiguration its
# name says; --privileged also implies every capability, no seccomp and every device.
FAILS = [
    ("pm-cap-add", "CTR-CAP-ADD"),
    ("pm-privileged", "CTR-PRIVILEGED"),
    ("pm-privileged", "CTR-CAP-ADD"),
    ("pm-privileged", "CTR-SECCOMP"),
    ("pm-privileged", "CTR-DEVICES"),
    ("pm-seccomp", "CTR-SECCOMP"),
    ("pm-pid-host", "CTR-HOST-PID"),
    ("pm-rw-rootfs", "CTR-READONLY-ROOTFS"),
    ("pm-root", "CTR-USER"),
    ("pm-socket", "CTR-DOCKER-SOCKET"),
]
# Every container rule the hardened container must pass on Podman; CTR-CAP-DROP and
# CTR-HOST-USERNS read Podman's own spellings (test_adapted_rules).
HARDENED_PASSES = [
    "CTR-PRIVILEGED",
    "CTR-USER",
    "CTR-CAP-ADD",
    "CTR-CAP-DROP",
    "CTR-HOST-USERNS",
    "CTR-NO-NEW-PRIVILEGES",
    "CTR-SECCOMP",
    "CTR-DOCKER-SOCKET",
    "CTR-HOST-PATH",
    "CTR-HOST-PATH-RW",
    "CTR-BIND-RW",
    "CTR-DEVICES",
    "CTR-READONLY-ROOTFS",
    "CTR-HOST-NETWORK",
    "CTR-HOST-PID",
    "CTR-HOST-IPC",
    "CTR-HOST-UTS",
    "CTR-MEMORY-LIMIT",
    "CTR-CPU-LIMIT",
    "CTR-PIDS-LIMIT",
    "CTR-RESTART-POLICY",
]


def test_collection_through_the_compat_api(podman_scan: Scan) -> None:
    facts = podman_scan.facts
    names = {c.name for c in facts.containers}
    assert set(PODMAN_MISCONFIGURED) | {"pm-socket", "pm-hardened"} <= names
    assert podman_scan.api_version == "1.41"
    assert facts.images and all(image.history is not None for image in facts.images)
    assert any(n.get("Name") == "bridge" for n in facts.networks)


def test_engine_is_recognised_as_rootful_podman(podman_scan: Scan) -> None:
    assert engine_kind(podman_scan.facts) == "podman"
    assert is_rootless(podman_scan.facts) is False


@pytest.mark.parametrize(("container", "rule_id"), FAILS)
def test_misconfiguration_fails_its_rule(podman_scan: Scan, container: str, rule_id: str) -> None:
    result = podman_scan.result(rule_id, container)
    assert result.outcome is Outcome.FAIL, result


@pytest.mark.parametrize("rule_id", HARDENED_PASSES)
def test_hardened_container_passes(podman_scan: Scan, rule_id: str) -> None:
    result = podman_scan.result(rule_id, "pm-hardened")
    assert result.outcome is Outcome.PASS, result


def test_host_is_scored(podman_scan: Scan) -> None:
    score = podman_scan.score
    assert score.score is not None and 0 < score.score < 100
    # The privileged container and the mounted socket are critical failures: at best a D.
    assert score.failing_by_severity.get("critical", 0) >= 2
    assert score.grade in {"D", "F"}

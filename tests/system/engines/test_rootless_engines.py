"""Rootless engines, scanned through the product: rootless dockerd (RootlessKit) and rootless
Podman, both run by the lab's unprivileged user (OWASP cheat sheet rule 11, DMN-ROOTLESS).

Rules adapted to them (DMN-USERNS, the limit rules) are in test_adapted_rules.
"""

from __future__ import annotations

import os

import pytest

from lab.podman import LabPodman
from lab.rootless import LabRootlessDocker
from rules.base import Outcome
from rules.engines import engine_kind, is_rootless, resource_limits_enforced
from tests.system.engines.lab import Scan

pytestmark = pytest.mark.docker


def test_rootless_docker_is_collected_and_recognised(rootless_docker_scan: Scan) -> None:
    facts = rootless_docker_scan.facts
    assert {"rd-cap-add", "rd-limits"} <= {c.name for c in facts.containers}
    assert engine_kind(facts) == "docker"
    assert is_rootless(facts) is True


def test_rootless_docker_runs_as_the_lab_user(rootless_docker: LabRootlessDocker) -> None:
    pid = rootless_docker.pid
    assert pid is not None
    assert os.stat(f"/proc/{pid}").st_uid == rootless_docker.user.uid != 0


def test_rootless_docker_is_credited(rootless_docker_scan: Scan) -> None:
    for rule_id in ("DMN-ROOTLESS", "DMN-USERNS"):
        result = rootless_docker_scan.result(rule_id)
        assert result.outcome is Outcome.PASS, (rule_id, result)


def test_rootless_does_not_excuse_container_findings(rootless_docker_scan: Scan) -> None:
    # Container root is the lab user on the host, but SYS_ADMIN still reaches everything
    # that user owns: the container rule keeps its verdict.
    assert rootless_docker_scan.result("CTR-CAP-ADD", "rd-cap-add").outcome is Outcome.FAIL


def test_rootless_podman_is_collected_and_recognised(rootless_podman_scan: Scan) -> None:
    facts = rootless_podman_scan.facts
    assert {"rl-cap-add", "rl-limits"} <= {c.name for c in facts.containers}
    assert engine_kind(facts) == "podman"
    assert is_rootless(facts) is True
    assert rootless_podman_scan.result("CTR-CAP-ADD", "rl-cap-add").outcome is Outcome.FAIL


def test_rootless_podman_runs_as_the_lab_user(rootless_podman: LabPodman) -> None:
    pid, user = rootless_podman.pid, rootless_podman.user
    assert pid is not None and user is not None
    assert os.stat(f"/proc/{pid}").st_uid == user.uid != 0


def test_rootless_podman_on_cgroup_v1_drops_limits_and_says_so(rootless_podman_scan: Scan) -> None:
    """GIVEN rootless Podman on a cgroup v1 host (the lab machines), which cannot set limits
    WHEN a container is created with --memory, --cpus and --pids-limit
    THEN Podman drops them at create time, so the limit rules fail: nothing limits it."""
    assert rootless_podman_scan.facts.info["CgroupVersion"] == "1", "lab premise changed"
    for rule_id in ("CTR-MEMORY-LIMIT", "CTR-CPU-LIMIT", "CTR-PIDS-LIMIT"):
        result = rootless_podman_scan.result(rule_id, "rl-limits")
        assert result.outcome is Outcome.FAIL, (rule_id, result)


def test_rootless_docker_without_cgroups_records_limits_it_cannot_apply(
    rootless_docker_scan: Scan,
) -> None:
    """The premise of the CTR-*-LIMIT expectations in test_adapted_rules."""
    facts = rootless_docker_scan.facts
    assert resource_limits_enforced(facts) is False
    assert facts.info["MemoryLimit"] is False
    assert rootless_docker_scan.container("rd-limits")["HostConfig"]["Memory"] == 64 * 2**20

"""Engine kind and rootless mode, read from recorded /version and /info answers.

The samples in data/ are what GET /version and GET /info returned on this project's lab
engines (Debian 12): dockerd 20.10.24 rootful (lab.daemon) and rootless
(lab.rootless), Podman 4.3.1 rootful and rootless (lab.podman). Re-record
with docker-py's APIClient(...).version() / .info() against the lab services.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rules.base import Cause, Outcome
from rules.engines import (
    engine_kind,
    is_rootless,
    not_supported,
    podman_runtime,
    podman_version,
    resource_limits_enforced,
)
from rules.facts import HostFacts

DATA = Path(__file__).parent / "data"


def sample(name: str) -> HostFacts:
    recorded = json.loads((DATA / f"{name}.json").read_text())
    return HostFacts(version=recorded["version"], info=recorded["info"])


def facts(version: dict[str, Any] | None = None, info: dict[str, Any] | None = None) -> HostFacts:
    return HostFacts(version=version or {}, info=info or {})


@pytest.mark.parametrize(
    ("name", "kind", "rootless"),
    [
        ("docker-rootful", "docker", False),
        ("docker-rootless", "docker", True),
        ("podman-rootful", "podman", False),
        ("podman-rootless", "podman", True),
    ],
)
def test_recorded_engines(name: str, kind: str, rootless: bool) -> None:
    host = sample(name)
    assert engine_kind(host) == kind
    assert is_rootless(host) is rootless


def test_podman_4_rootless_is_told_by_its_boolean_not_security_options() -> None:
    """GIVEN rootless Podman 4.3, which leaves name=rootless out of SecurityOptions
    THEN the Rootless boolean decides, as a SecurityOptions reader would say rootful."""
    host = sample("podman-rootless")
    assert "name=rootless" not in host.info["SecurityOptions"]
    assert host.info["Rootless"] is True
    assert is_rootless(host) is True


def test_newer_podman_agrees_through_security_options_too() -> None:
    host = sample("podman-rootless")
    del host.info["Rootless"]
    host.info["SecurityOptions"] = ["name=seccomp,profile=default", "name=rootless"]
    assert is_rootless(host) is True


def test_podman_is_recognised_from_info_alone() -> None:
    """A proxy or an old Podman that trims /version still shows BuildahVersion in /info."""
    host = sample("podman-rootful")
    host.version = {"Version": "4.3.1", "ApiVersion": "1.41"}
    assert engine_kind(host) == "podman"


def test_docker_before_components_is_docker() -> None:
    assert engine_kind(facts({"Version": "17.03.2-ce"}, {"ServerVersion": "17.03.2-ce"})) == (
        "docker"
    )


@pytest.mark.parametrize(
    "version",
    [{}, {"Components": "Engine"}, {"Components": [{"Name": "containerd"}]}],
)
def test_unrecognisable_engine_is_unknown(version: dict[str, Any]) -> None:
    assert engine_kind(facts(version, {})) == "unknown"


@pytest.mark.parametrize(
    "info",
    [{}, {"SecurityOptions": "name=rootless"}, {"Rootless": "yes"}],
)
def test_rootless_is_none_when_the_daemon_does_not_say(info: dict[str, Any]) -> None:
    assert is_rootless(facts({}, info)) is None


def test_security_options_null_means_rootful() -> None:
    # A JSON null is the daemon saying "no options", not "unknown".
    assert is_rootless(facts({}, {"SecurityOptions": None})) is False


def test_resource_limits_not_enforced_by_rootless_docker_without_cgroups() -> None:
    assert resource_limits_enforced(sample("docker-rootless")) is False
    assert resource_limits_enforced(sample("docker-rootful")) is True
    assert resource_limits_enforced(sample("podman-rootless")) is True
    assert resource_limits_enforced(facts()) is None


def test_podman_runtime_is_read_from_its_component() -> None:
    runtime = podman_runtime(sample("podman-rootful"))
    assert runtime is not None
    assert (runtime.name, runtime.version) == ("runc", "1.1.5+ds1")
    assert runtime.commit == "1.1.5+ds1-1+deb12u1"
    assert runtime.field == "Components[OCI Runtime (runc)].Version"


def test_docker_has_no_podman_runtime_component() -> None:
    assert podman_runtime(sample("docker-rootful")) is None


def test_crun_runtime() -> None:
    host = sample("podman-rootful")
    host.version["Components"][2] = {
        "Name": "OCI Runtime (crun)",
        "Version": "crun version 1.8.7\ncommit: 53a9996ce82d1ee818349bdcc64797a1fa0433c4",
    }
    runtime = podman_runtime(host)
    assert runtime is not None
    assert (runtime.name, runtime.version) == ("crun", "1.8.7")


def test_podman_version() -> None:
    assert podman_version(sample("podman-rootful")) == "4.3.1"
    assert podman_version(sample("docker-rootful")) is None


def test_not_supported_is_not_applicable_with_its_cause() -> None:
    result = not_supported("live-restore")
    assert result.outcome is Outcome.NOT_APPLICABLE
    assert result.cause is Cause.NOT_SUPPORTED
    assert "not supported by this engine" in result.reason

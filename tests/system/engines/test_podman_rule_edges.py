"""The adapted rules' edge cases, on the recorded /version and /info answers in data/ with
containers and images shaped like the lab's (no engine needed): what the lab engines
cannot show (crun, pods, a registry digest next to a local one), and that Docker keeps
its verdicts.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from rules import REGISTRY
from rules.base import Cause, Outcome, Result
from rules.container import DEFAULT_CAPS, PODMAN_STOCK_DROPS
from rules.facts import ContainerFacts, HostFacts, ImageFacts

DATA = Path(__file__).parent / "data"
DIGEST = "sha256:56b21cc151204d557e98d3f4dbdbf84a8608c1e295fc63242f1636ffcc4e70a5"


def sample(name: str) -> HostFacts:
    recorded = json.loads((DATA / f"{name}.json").read_text())
    return HostFacts(version=recorded["version"], info=recorded["info"])


def container(name: str, **host_config: Any) -> ContainerFacts:
    inspect: dict[str, Any] = {
        "Id": f"{name}-id",
        "Name": f"/{name}",
        "HostConfig": {
            "NetworkMode": "none",
            "UsernsMode": "",
            "CapAdd": [],
            "CapDrop": sorted(PODMAN_STOCK_DROPS),
            "Privileged": False,
            "Memory": 0,
            "NanoCpus": 0,
            "CpuQuota": 0,
            "CpuShares": 0,
            "CpusetCpus": "",
            "PidsLimit": 0,
            **host_config,
        },
        "NetworkSettings": {"Networks": {}},
    }
    return ContainerFacts(id=f"{name}-id", inspect=inspect)


def on(engine: str, *containers: ContainerFacts, images: Sequence[ImageFacts] = ()) -> HostFacts:
    host = sample(engine)
    host.containers = list(containers)
    host.images = list(images)
    host.link()
    return host


def check(rule_id: str, subject: object) -> Result:
    return REGISTRY[rule_id].check(subject)


def test_crun_is_not_concerned_by_the_runc_escape() -> None:
    host = sample("podman-rootful")
    host.version["Components"][2] = {
        "Name": "OCI Runtime (crun)",
        "Version": "crun version 1.8.7\ncommit: 53a9996ce82d1ee818349bdcc64797a1fa0433c4",
    }
    assert check("DMN-RUNC-VERSION", host).outcome is Outcome.NOT_APPLICABLE


def test_upstream_runc_under_podman_is_judged_like_dockers() -> None:
    host = sample("podman-rootful")
    host.version["Components"][2]["Version"] = "runc version 1.1.4\ncommit: v1.1.4-0-g5fd4c4d"
    result = check("DMN-RUNC-VERSION", host)
    assert result.outcome is Outcome.FAIL
    assert str(result.evidence[0]) == 'Components[OCI Runtime (runc)].Version = "1.1.4"'


@pytest.mark.parametrize(
    ("rule_id", "outcome"),
    [
        # dockerd 20.10.24+dfsg1 (Debian): the verdicts the rules reached before adaptation.
        ("DMN-ENGINE-VERSION", Outcome.UNKNOWN),
        ("DMN-RUNC-VERSION", Outcome.UNKNOWN),
        ("DMN-LIVE-RESTORE", Outcome.FAIL),
        ("DMN-AUTHZ", Outcome.FAIL),
        ("DMN-EXPERIMENTAL", Outcome.PASS),
        ("DMN-LOG-DRIVER", Outcome.FAIL),
        ("DMN-NO-NEW-PRIVILEGES-API", Outcome.UNKNOWN),
        ("DMN-SECCOMP", Outcome.PASS),
        ("DMN-USERNS", Outcome.FAIL),
        ("DMN-ROOTLESS", Outcome.FAIL),
    ],
)
def test_docker_keeps_its_verdicts(rule_id: str, outcome: Outcome) -> None:
    result = check(rule_id, sample("docker-rootful"))
    assert result.outcome is outcome, result
    assert result.cause is not Cause.NOT_SUPPORTED


def test_rootless_docker_is_credited_from_security_options() -> None:
    for rule_id in ("DMN-ROOTLESS", "DMN-USERNS"):
        result = check(rule_id, sample("docker-rootless"))
        assert result.outcome is Outcome.PASS
        assert result.evidence[0].field == "SecurityOptions"


def test_podman_without_a_rootless_answer_is_unknown() -> None:
    host = sample("podman-rootful")
    del host.info["Rootless"]
    host.info["SecurityOptions"] = "name=seccomp"  # unreadable
    for rule_id in ("DMN-ROOTLESS", "DMN-USERNS"):
        assert check(rule_id, host).outcome is Outcome.UNKNOWN


@pytest.mark.parametrize(
    ("mode", "outcome"),
    [
        ("", Outcome.FAIL),
        ("host", Outcome.FAIL),
        ("private", Outcome.PASS),
        ("auto:size=65536", Outcome.PASS),
        ("keep-id", Outcome.PASS),
        ("ns:/proc/1/ns/user", Outcome.UNKNOWN),
        ("container:nowhere", Outcome.UNKNOWN),
    ],
)
def test_podman_user_namespace_modes(mode: str, outcome: Outcome) -> None:
    subject = container("c", UsernsMode=mode)
    on("podman-rootful", subject)
    assert check("CTR-HOST-USERNS", subject).outcome is outcome


@pytest.mark.parametrize(("owner_mode", "outcome"), [("private", Outcome.PASS), ("", Outcome.FAIL)])
def test_joined_user_namespace_is_its_owners(owner_mode: str, outcome: Outcome) -> None:
    """A pod member joins its infra container's namespace: the infra container decides."""
    infra = container("infra", UsernsMode=owner_mode)
    member = container("member", UsernsMode=f"container:{infra.id}")
    on("podman-rootful", infra, member)
    result = check("CTR-HOST-USERNS", member)
    assert result.outcome is outcome
    assert result.evidence[0].field == "infra HostConfig.UsernsMode"


def test_docker_without_remapping_keeps_not_applicable() -> None:
    subject = container("c", UsernsMode="")
    on("docker-rootful", subject)
    assert check("CTR-HOST-USERNS", subject).outcome is Outcome.NOT_APPLICABLE


@pytest.mark.parametrize(
    ("drop", "add", "outcome"),
    [
        (sorted(DEFAULT_CAPS), [], Outcome.PASS),
        (sorted(DEFAULT_CAPS), ["SYS_ADMIN"], Outcome.PASS),  # CTR-CAP-ADD judges that
        (sorted(DEFAULT_CAPS - {"CHOWN"}), ["CHOWN"], Outcome.PASS),
        (sorted(DEFAULT_CAPS - {"NET_BIND_SERVICE"}), [], Outcome.MANUAL),
        (sorted(PODMAN_STOCK_DROPS), [], Outcome.FAIL),
        ([], [], Outcome.FAIL),
    ],
)
def test_podman_capability_drops(drop: list[str], add: list[str], outcome: Outcome) -> None:
    subject = container("c", CapDrop=drop, CapAdd=add)
    on("podman-rootful", subject)
    assert check("CTR-CAP-DROP", subject).outcome is outcome


def test_docker_still_asks_for_drop_all() -> None:
    subject = container("c", CapDrop=sorted(DEFAULT_CAPS))
    on("docker-rootful", subject)
    assert check("CTR-CAP-DROP", subject).outcome is Outcome.FAIL


def test_networks_named_after_the_engines_default() -> None:
    podman = container("p", NetworkMode="bridge")
    podman.inspect["NetworkSettings"]["Networks"] = {"podman": {}}
    docker = container("d", NetworkMode="bridge")
    docker.inspect["NetworkSettings"]["Networks"] = {"podman": {}}
    on("podman-rootful", podman)
    on("docker-rootful", docker)
    assert check("CTR-DEFAULT-BRIDGE", podman).outcome is Outcome.FAIL
    assert check("CTR-DEFAULT-BRIDGE", docker).outcome is Outcome.PASS  # a user network


def test_podman_icc_passes_with_nobody_on_the_default_network() -> None:
    result = check("DMN-ICC", on("podman-rootful", container("c")))
    assert result.outcome is Outcome.PASS
    assert str(result.evidence[0]) == "containers on network podman = []"


def test_registry_digest_beside_a_local_one_passes() -> None:
    digests = [f"localhost/app@{DIGEST}", f"registry.example/app@{DIGEST}"]
    image = ImageFacts(id="sha256:1", inspect={"RepoTags": ["app:1"], "RepoDigests": digests})
    on("podman-rootful", images=[image])
    assert check("IMG-DIGEST", image).outcome is Outcome.PASS
    image.inspect["RepoDigests"] = digests[:1]
    assert check("IMG-DIGEST", image).outcome is Outcome.FAIL


def test_docker_localhost_registry_digest_still_counts() -> None:
    image = ImageFacts(
        id="sha256:1", inspect={"RepoTags": ["x:1"], "RepoDigests": [f"localhost/x@{DIGEST}"]}
    )
    on("docker-rootful", images=[image])
    assert check("IMG-DIGEST", image).outcome is Outcome.PASS


def test_limits_pass_where_the_engine_applies_them() -> None:
    subject = container("c", Memory=64 * 2**20, NanoCpus=500_000_000, PidsLimit=64)
    on("docker-rootful", subject)
    for rule_id in ("CTR-MEMORY-LIMIT", "CTR-CPU-LIMIT", "CTR-PIDS-LIMIT"):
        assert check(rule_id, subject).outcome is Outcome.PASS


def test_cpuset_is_not_applied_without_cgroups_either() -> None:
    subject = container("c", CpusetCpus="0")
    on("docker-rootless", subject)
    result = check("CTR-CPU-LIMIT", subject)
    assert result.outcome is Outcome.FAIL
    assert [e.field for e in result.evidence] == ["CgroupDriver", "HostConfig.CpusetCpus"]


def test_linked_images_do_not_loop_in_repr_or_equality() -> None:
    image = ImageFacts(id="sha256:1", inspect={})
    on("podman-rootful", images=[image])
    assert "host" not in repr(image)
    assert image == ImageFacts(id="sha256:1", inspect={})
    assert copy.copy(image).host is image.host

"""The Podman and rootless-engine samples the tests create, and one scan through the product:
open_api, collect, evaluate, score_host (the path a scheduled scan takes).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors

from hosts.credentials import Credentials
from hosts.endpoints import parse_endpoint
from lab.images import DEFAULT_TAG
from rules import Evaluation, HostScore, evaluate, score_host
from rules.base import Result
from rules.facts import HostFacts
from scans.collect import collect
from scans.transports import Limits, open_api

LIMITS = Limits(deadline=30, connect_timeout=5, read_timeout=10, pool_size=4)
OFFLINE = "--network=none"

# One misconfiguration each (the name says which), then one container hardened every way the
# container rules ask. The socket sample mounts the lab service's own socket.
PODMAN_MISCONFIGURED = {
    "pm-cap-add": (OFFLINE, "--cap-add=SYS_ADMIN"),
    "pm-privileged": (OFFLINE, "--privileged"),
    "pm-seccomp": (OFFLINE, "--security-opt=seccomp=unconfined"),
    "pm-pid-host": (OFFLINE, "--pid=host"),
    "pm-rw-rootfs": (OFFLINE, "--read-only=false"),
    "pm-root": (OFFLINE, "--user=0"),
    # Podman's default network: the one a container joins when nothing else is asked for.
    "pm-default-net": (),
}
PODMAN_HARDENED = (
    OFFLINE,
    "--user=1000:1000",
    "--cap-drop=ALL",
    "--read-only",
    "--security-opt=no-new-privileges",
    "--memory=64m",
    "--cpus=0.5",
    "--pids-limit=64",
    "--restart=on-failure:3",
    "--health-cmd=true",
    "--health-interval=10h",
    # Podman's per-container user namespace: container root is host uid 300000.
    "--uidmap=0:300000:65536",
    "--gidmap=0:300000:65536",
)
LIMITS_ONLY = (OFFLINE, "--memory=64m", "--cpus=0.5", "--pids-limit=64")
# Replaces the machine's containers.conf and registries.conf on the "lax" Podman host.
LAX_CONTAINERS_CONF = '[containers]\nseccomp_profile = "unconfined"\n'
INSECURE_REGISTRY = "registry.lab.invalid:5000"
LAX_REGISTRIES_CONF = f'[[registry]]\nlocation = "{INSECURE_REGISTRY}"\ninsecure = true\n'


@dataclass
class Scan:
    facts: HostFacts
    evaluations: list[Evaluation]
    score: HostScore
    api_version: str

    def result(self, rule_id: str, subject: str = "daemon") -> Result:
        found = [
            ev.result
            for ev in self.evaluations
            if ev.rule.id == rule_id and ev.subject_name == subject
        ]
        assert len(found) == 1, f"{rule_id} on {subject}: {len(found)} verdicts"
        return found[0]

    def container(self, name: str) -> dict[str, Any]:
        return next(c.inspect for c in self.facts.containers if c.name == name)


def scan(url: str) -> Scan:
    with open_api(parse_endpoint(url), Credentials(), LIMITS) as api:
        facts = collect(api)
        version = api.api_version
    evaluations = evaluate(facts)
    return Scan(facts, evaluations, score_host(evaluations), version)


def recreate(client: docker.APIClient, name: str, **host_config: Any) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        client.remove_container(name, force=True)
    config = client.create_host_config(network_mode="none", **host_config)
    client.create_container(DEFAULT_TAG, ["sleep", "3600"], name=name, host_config=config)

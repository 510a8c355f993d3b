"""Deliberately misconfigured containers, one misconfiguration each, plus one hardened one.

They give the rules something real to find: every sample's HostConfig/Config is what the
Engine API reports for a container created that way, not a hand-written fixture. Each runs
`sleep 3600` with networking off (except the host-network sample), so nothing is reachable.

What runs where: this machine (a VM whose root lacks CAP_SYS_RESOURCE in its bounding set)
cannot start a privileged container: runc asks for every capability and fails with "unable
to apply caps: operation not permitted". That sample stays "created", which is still what a
scanner sees in `docker ps -a` and what the privileged rule inspects. Every other sample,
including the ones sharing the host's pid/ipc/uts/network namespaces, starts.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors

from lab.process import LabError

PREFIX = "lab-"
LABEL = "posture.lab.sample"
COMMAND = ["sleep", "3600"]
# Container starts are mostly waiting on containerd and runc; a few in flight cut the
# sample set's setup from ~2.8 s to ~1.9 s on two cores, more do not help.
_WORKERS = 4
FAKE_AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@dataclass(frozen=True)
class Sample:
    name: str
    # What a scanner should report about it, for docs and test messages.
    finding: str
    host_config: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    # False where the container cannot run on the lab machine; see the module docstring.
    startable: bool = True
    labels: dict[str, str] = field(default_factory=dict)
    # Reference the image by its content id, as a deployment pinned by digest would, rather
    # than by its movable tag (OWASP rule 13).
    pinned: bool = False


# What lab-hardened sets; the "hardened minus one" samples below drop one key each, so each
# of them differs from a container that passes everything by exactly one misconfiguration.
HARDENED_HOST_CONFIG: dict[str, Any] = {
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges:true"],
    "read_only": True,
    "mem_limit": "64m",
    "nano_cpus": 500_000_000,
    "pids_limit": 64,
    "restart_policy": {"Name": "on-failure", "MaximumRetryCount": 3},
}
# A probe far apart enough that it never runs during a test session: what is checked is that
# one is configured (CIS 5.27), and `true` is one of the lab image's applets.
HEALTHCHECK = {"test": ["CMD", "true"], "interval": 3600 * 10**9}
HARDENED_CONFIG: dict[str, Any] = {"user": "1000:1000", "healthcheck": HEALTHCHECK}
FAKE_API_TOKEN = "tok_9fQ2xLr7VbK3mZp8TnW4cYh6"  # a label value shaped like an API token


def hardened_without(*keys: str, **changes: Any) -> dict[str, Any]:
    host_config = {k: v for k, v in HARDENED_HOST_CONFIG.items() if k not in keys}
    return {**host_config, **changes}


def sample_specs(docker_socket: str) -> tuple[Sample, ...]:
    return (
        Sample(
            "lab-privileged",
            "privileged container",
            {"privileged": True},
            startable=False,
        ),
        Sample(
            "lab-docker-sock",
            "Docker socket mounted into the container",
            {"binds": {docker_socket: {"bind": "/var/run/docker.sock", "mode": "rw"}}},
        ),
        Sample("lab-root-user", "runs as root explicitly", config={"user": "root"}),
        Sample(
            "lab-cap-add",
            "dangerous capabilities added",
            {"cap_add": ["SYS_ADMIN", "NET_ADMIN"]},
        ),
        Sample(
            "lab-seccomp-unconfined",
            "seccomp disabled",
            {"security_opt": ["seccomp=unconfined"]},
        ),
        Sample("lab-pid-host", "shares the host PID namespace", {"pid_mode": "host"}),
        Sample("lab-ipc-host", "shares the host IPC namespace", {"ipc_mode": "host"}),
        Sample("lab-uts-host", "shares the host UTS namespace", {"uts_mode": "host"}),
        Sample("lab-host-network", "shares the host network", {"network_mode": "host"}),
        # Defaults on purpose: writable rootfs, no memory/CPU/pids limits, no restart policy.
        Sample("lab-unlimited", "writable rootfs and no resource limits"),
        Sample(
            "lab-host-etc",
            "sensitive host directory mounted read-write",
            {"binds": {"/etc": {"bind": "/host/etc", "mode": "rw"}}},
        ),
        # /dev/null is harmless to expose yet lands in HostConfig.Devices like a real disk.
        Sample(
            "lab-device",
            "host device mapped into the container",
            {"devices": ["/dev/null:/dev/lab-device:rwm"]},
        ),
        Sample(
            "lab-restart-always",
            "restart policy always",
            {"restart_policy": {"Name": "always", "MaximumRetryCount": 0}},
        ),
        Sample(
            "lab-env-secret",
            "secret in the environment",
            config={"environment": {"AWS_SECRET_ACCESS_KEY": FAKE_AWS_SECRET}},
        ),
        # Hardened minus one: each fails exactly the rules its name says.
        Sample(
            "lab-default-caps",
            "keeps Docker's default capabilities (no --cap-drop)",
            hardened_without("cap_drop"),
            config=HARDENED_CONFIG,
            pinned=True,
        ),
        Sample(
            "lab-no-nnp",
            "privilege escalation not blocked (no no-new-privileges)",
            hardened_without("security_opt"),
            config=HARDENED_CONFIG,
            pinned=True,
        ),
        Sample(
            "lab-rw-rootfs",
            "writable root filesystem",
            hardened_without("read_only"),
            config=HARDENED_CONFIG,
            pinned=True,
        ),
        Sample(
            "lab-no-limits",
            "no memory, CPU or PIDs limit",
            hardened_without("mem_limit", "nano_cpus", "pids_limit"),
            config=HARDENED_CONFIG,
            pinned=True,
        ),
        Sample(
            "lab-no-healthcheck",
            "no health check at runtime",
            hardened_without(),
            config={"user": "1000:1000"},
            pinned=True,
        ),
        Sample(
            "lab-secret-label",
            "token in a container label",
            hardened_without(),
            config=HARDENED_CONFIG,
            labels={"com.example.deploy.api-token": FAKE_API_TOKEN},
            pinned=True,
        ),
        Sample(
            "lab-hardened",
            "nothing: every hardening option set",
            hardened_without(),
            config=HARDENED_CONFIG,
            pinned=True,
        ),
    )


def socket_path_of(client: docker.APIClient) -> str:
    """The host path of the unix socket `client` talks to (docker-py keeps it on its adapter)."""
    adapter = client.get_adapter("http+docker://localhost")
    path = getattr(adapter, "socket_path", None)
    if not isinstance(path, str):
        raise LabError("the client is not on a unix socket: pass docker_socket explicitly")
    return path


def remove_samples(client: docker.APIClient) -> None:
    doomed = [
        container["Id"]
        for container in client.containers(all=True)
        if any(name.startswith(f"/{PREFIX}") for name in container.get("Names") or ())
    ]

    def remove(container_id: str) -> None:
        # NotFound: removed meanwhile, e.g. by a parallel cleanup.
        with contextlib.suppress(docker.errors.NotFound):
            client.remove_container(container_id, force=True, v=True)

    with ThreadPoolExecutor(_WORKERS) as pool:
        list(pool.map(remove, doomed))


def create_sample(
    client: docker.APIClient,
    sample: Sample,
    image: str,
    image_id: str,
    labels: Mapping[str, str] | None = None,
) -> str:
    """Create one sample container (started if it is meant to run); its id."""
    host_options = {"network_mode": "none", **sample.host_config}
    container = client.create_container(
        image_id if sample.pinned else image,
        command=COMMAND,
        name=sample.name,
        host_config=client.create_host_config(**host_options),
        labels={LABEL: sample.finding, **(labels or {}), **sample.labels},
        **sample.config,
    )
    if sample.startable:
        client.start(container["Id"])
    return str(container["Id"])


def create_samples(
    client: docker.APIClient, image: str, *, docker_socket: str | os.PathLike[str] | None = None
) -> dict[str, str]:
    """Replace all lab-* containers with the samples; return name -> container id.

    `docker_socket` is the host path bind-mounted as /var/run/docker.sock in the socket
    sample; by default the socket `client` itself uses, which exists wherever the lab runs
    (binding a missing path would make dockerd create a directory there).
    """
    socket_path = str(docker_socket) if docker_socket else socket_path_of(client)
    if not stat.S_ISSOCK(Path(socket_path).stat().st_mode):
        raise LabError(f"{socket_path} is not a unix socket")
    remove_samples(client)

    image_id = str(client.inspect_image(image)["Id"])

    def create(sample: Sample) -> str:
        return create_sample(client, sample, image, image_id)

    specs = sample_specs(socket_path)
    with ThreadPoolExecutor(_WORKERS) as pool:
        return dict(zip((sample.name for sample in specs), pool.map(create, specs), strict=True))


def ensure_samples(
    client: docker.APIClient, image: str, *, docker_socket: str | os.PathLike[str] | None = None
) -> dict[str, str]:
    """Keep an existing, complete sample set (restarting what should run); else recreate it.

    The demo uses this so that container ids stay stable across restarts: new ids would
    show up in the dashboard as findings resolved and reopened on every `scripts/run`.
    """
    socket_path = str(docker_socket) if docker_socket else socket_path_of(client)
    specs = {sample.name: sample for sample in sample_specs(socket_path)}
    existing = {
        name[1:]: container
        for container in client.containers(all=True)
        for name in container.get("Names") or ()
        if name.startswith(f"/{PREFIX}")
    }
    image_id = client.inspect_image(image)["Id"]
    if set(existing) != set(specs) or any(
        container.get("ImageID") != image_id for container in existing.values()
    ):
        return create_samples(client, image, docker_socket=socket_path)
    for name, container in existing.items():
        if specs[name].startable and container.get("State") != "running":
            client.start(container["Id"])
    return {name: str(existing[name]["Id"]) for name in specs}

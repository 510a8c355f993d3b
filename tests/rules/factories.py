"""Facts for rule tests, shaped like real Engine API output.

The defaults below were captured from a dockerd 20.10 (Debian) test daemon: `t1` is a
container started with default settings, `t2` the same image started with --privileged.
Helpers copy them and apply dotted-path overrides, so each test states only what differs.
"""

from __future__ import annotations

import copy
from typing import Any

from rules.base import REGISTRY, Outcome, Result
from rules.facts import ContainerFacts, HostFacts, ImageFacts

IMAGE_ID = "sha256:5cba4c2e7a0b3063f0617a01bbf7d12861bfd190b928e11ca9c808f531f8dee6"

T1: dict[str, Any] = {
    "Id": "06b244391d2038c642b16776cee31c68f5804339900e7146264b9c61d556cfbb",
    "Created": "2026-11-22T09:55:18.539295438Z",
    "Path": "sleep",
    "Args": ["1000"],
    "State": {"Status": "running", "Running": True, "Pid": 2957, "ExitCode": 0},
    "Image": IMAGE_ID,
    "Name": "/t1",
    "RestartCount": 0,
    "Driver": "overlay2",
    "Platform": "linux",
    "MountLabel": "",
    "ProcessLabel": "",
    "AppArmorProfile": "",
    "ExecIDs": None,
    "HostConfig": {
        "Binds": None,
        "NetworkMode": "none",
        "PortBindings": {},
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": False,
        "VolumesFrom": None,
        "CapAdd": None,
        "CapDrop": None,
        "CgroupnsMode": "host",
        "IpcMode": "private",
        "Cgroup": "",
        "PidMode": "",
        "Privileged": False,
        "PublishAllPorts": False,
        "ReadonlyRootfs": False,
        "SecurityOpt": None,
        "UTSMode": "",
        "UsernsMode": "",
        "ShmSize": 67108864,
        "Runtime": "runc",
        "CpuShares": 0,
        "Memory": 0,
        "NanoCpus": 0,
        "CpuPeriod": 0,
        "CpuQuota": 0,
        "CpusetCpus": "",
        "Devices": [],
        "DeviceCgroupRules": None,
        "MemoryReservation": 0,
        "MemorySwap": 0,
        "PidsLimit": None,
        "Ulimits": [],
        "MaskedPaths": ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys"],
        "ReadonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"],
    },
    "Mounts": [],
    "Config": {
        "Hostname": "06b244391d20",
        "User": "",
        "Env": None,
        "Cmd": ["sleep", "1000"],
        "Image": "posture-test/busybox:1",
        "Volumes": None,
        "WorkingDir": "",
        "Entrypoint": None,
        "Labels": {},
    },
    "NetworkSettings": {"Networks": {"none": {"NetworkID": "95091c56fc38", "IPAddress": ""}}},
}

T2: dict[str, Any] = copy.deepcopy(T1)
T2.update(Id="2af0b142562b0de2d058b0c572dae569e18f6075e380d582657e42cdc8bc01fe", Name="/t2")
T2["State"] = {"Status": "created", "Running": False, "Pid": 0, "ExitCode": 128}
T2["HostConfig"].update(Privileged=True, SecurityOpt=["label=disable"], MaskedPaths=None)

INFO: dict[str, Any] = {
    "ID": "M2UQ:TRJL:MU54:A3D6:ZUIE:3V44:CTWL:ZYGM:DMCL:VAJY:PPAQ:ODNK",
    "Containers": 2,
    "Driver": "overlay2",
    "Plugins": {
        "Volume": ["local"],
        "Network": ["bridge", "host", "ipvlan", "macvlan", "null", "overlay"],
        "Authorization": None,
        "Log": ["json-file", "local", "journald"],
    },
    "MemoryLimit": True,
    "PidsLimit": True,
    "Debug": False,
    "LoggingDriver": "json-file",
    "CgroupDriver": "cgroupfs",
    "CgroupVersion": "1",
    "KernelVersion": "6.18.44-fc-v657",
    "OperatingSystem": "Debian GNU/Linux 12 (bookworm)",
    "OSType": "linux",
    "RegistryConfig": {
        "IndexConfigs": {
            "docker.io": {"Mirrors": [], "Name": "docker.io", "Official": True, "Secure": True}
        },
        "InsecureRegistryCIDRs": ["127.0.0.0/8"],
        "Mirrors": [],
    },
    "DockerRootDir": "/tmp/dk1/data",
    "ExperimentalBuild": False,
    "ServerVersion": "20.10.24+dfsg1",
    "DefaultRuntime": "runc",
    "Swarm": {"NodeID": "", "LocalNodeState": "inactive", "ControlAvailable": False},
    "LiveRestoreEnabled": False,
    "ContainerdCommit": {"ID": "1.6.20~ds1-1+deb12u3", "Expected": "1.6.20~ds1-1+deb12u3"},
    "RuncCommit": {"ID": "1.1.5+ds1-1+deb12u1", "Expected": "1.1.5+ds1-1+deb12u1"},
    "SecurityOptions": ["name=seccomp,profile=default"],
    "Warnings": None,
}

VERSION: dict[str, Any] = {
    "Platform": {"Name": ""},
    "Components": [
        {
            "Name": "Engine",
            "Version": "20.10.24+dfsg1",
            "Details": {"ApiVersion": "1.41", "GitCommit": "5d6db84", "Os": "linux"},
        },
        {
            "Name": "containerd",
            "Version": "1.6.20~ds1",
            "Details": {"GitCommit": "1.6.20~ds1-1+deb12u3"},
        },
        {"Name": "runc", "Version": "1.1.5+ds1", "Details": {"GitCommit": "1.1.5+ds1-1+deb12u1"}},
        {"Name": "docker-init", "Version": "0.19.0", "Details": {"GitCommit": ""}},
    ],
    "Version": "20.10.24+dfsg1",
    "ApiVersion": "1.41",
    "MinAPIVersion": "1.12",
    "GitCommit": "5d6db84",
    "Os": "linux",
    "Arch": "amd64",
}

# The test daemon runs with "bridge": "none", so GET /networks has no default bridge.
NETWORKS: list[dict[str, Any]] = [
    {"Name": "none", "Driver": "null", "Options": {}, "Labels": {}},
    {"Name": "host", "Driver": "host", "Options": {}, "Labels": {}},
]
# The default bridge as a stock daemon reports it.
BRIDGE: dict[str, Any] = {
    "Name": "bridge",
    "Driver": "bridge",
    "Options": {
        "com.docker.network.bridge.default_bridge": "true",
        "com.docker.network.bridge.enable_icc": "true",
        "com.docker.network.bridge.enable_ip_masquerade": "true",
        "com.docker.network.bridge.name": "docker0",
    },
}

IMAGE: dict[str, Any] = {
    "Id": IMAGE_ID,
    "RepoTags": ["posture-test/busybox:1"],
    "RepoDigests": [],
    "Parent": "",
    "Comment": "Imported from -",
    "Created": "2026-11-22T09:55:18.518430893Z",
    "DockerVersion": "20.10.24+dfsg1",
    "Config": {
        "User": "",
        "Env": None,
        "Cmd": None,
        "Image": "",
        "WorkingDir": "",
        "Entrypoint": None,
        "Labels": None,
    },
    "Architecture": "amd64",
    "Os": "linux",
    "RootFS": {"Type": "layers", "Layers": ["sha256:c5a3f57edd7e"]},
}
HISTORY: list[dict[str, Any]] = [
    {"Comment": "Imported from -", "Created": 1795341318, "CreatedBy": "", "Id": IMAGE_ID}
]

DROP = object()  # an override value that removes the key instead


def apply(data: dict[str, Any], changes: dict[str, Any] | None) -> dict[str, Any]:
    """Copy `data` and set each dotted path in `changes` (DROP deletes it)."""
    out = copy.deepcopy(data)
    for path, value in (changes or {}).items():
        *parents, last = path.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        if value is DROP:
            node.pop(last, None)
        else:
            node[last] = value
    return out


def host(
    info: dict[str, Any] | None = None,
    version: dict[str, Any] | None = None,
    networks: list[dict[str, Any]] | None = None,
    containers: list[ContainerFacts] | None = None,
) -> HostFacts:
    facts = HostFacts(
        version=apply(VERSION, version),
        info=apply(INFO, info),
        networks=copy.deepcopy(NETWORKS if networks is None else networks),
        containers=containers or [],
    )
    for c in facts.containers:
        c.host = facts
    return facts


def container(
    changes: dict[str, Any] | None = None,
    *,
    base: dict[str, Any] = T1,
    info: dict[str, Any] | None = None,
    linked: bool = True,
) -> ContainerFacts:
    """A container from `base` with `changes`; `info` changes its daemon's /info, and
    linked=False leaves it without host facts, as if /info could not be read."""
    inspect = apply(base, changes)
    facts = ContainerFacts(id=str(inspect.get("Id", "")), inspect=inspect)
    if linked:
        host(info=info, containers=[facts])
    return facts


def image(
    changes: dict[str, Any] | None = None, history: list[dict[str, Any]] | None = HISTORY
) -> ImageFacts:
    return ImageFacts(id=IMAGE_ID, inspect=apply(IMAGE, changes), history=copy.deepcopy(history))


def check(rule_id: str, subject: object) -> Result:
    return REGISTRY[rule_id].check(subject)


def outcome(rule_id: str, subject: object) -> Outcome:
    return check(rule_id, subject).outcome


def evidence(result: Result) -> dict[str, str]:
    return {e.field: e.value for e in result.evidence}

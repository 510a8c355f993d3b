"""Minimal Engine API answers for fault tests, shaped like a real daemon's (20.10, API 1.41)."""

from __future__ import annotations

from typing import Any

CID = "a" * 64
IID = "sha256:" + "b" * 64
HOSTILE = "<script>alert(1)</script>"


def responses(name: str = "/web", **host_config: Any) -> dict[str, Any]:
    inspect = {
        "Id": CID,
        "Name": name,
        "Image": IID,
        "State": {"Status": "running", "Running": True},
        "Config": {"User": "", "Image": "busybox:1", "Env": ["PASSWORD=hunter2"], "Labels": {}},
        "HostConfig": {
            "Privileged": False,
            "CapAdd": None,
            "CapDrop": None,
            "SecurityOpt": None,
            "NetworkMode": "none",
            "PidMode": "",
            "IpcMode": "private",
            "UTSMode": "",
            "Memory": 0,
            "NanoCpus": 0,
            "CpuQuota": 0,
            "CpuShares": 0,
            "PidsLimit": None,
            "ReadonlyRootfs": False,
            "Binds": None,
            "Devices": [],
            "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
            **host_config,
        },
        "Mounts": [],
        "AppArmorProfile": "",
    }
    return {
        "/_ping": "OK",
        "/version": {
            "ApiVersion": "1.41",
            "MinAPIVersion": "1.12",
            "Version": "20.10.24",
            "Components": [],
        },
        "/info": {
            "ID": "X",
            "Name": "fake",
            "SecurityOptions": ["name=seccomp,profile=default"],
            "Debug": False,
            "LiveRestoreEnabled": False,
            "Plugins": {"Authorization": None},
        },
        "/containers/json": [{"Id": CID, "Names": [name]}],
        f"/containers/{CID}/json": inspect,
        "/images/json": [{"Id": IID}],
        f"/images/{IID}/json": {
            "Id": IID,
            "RepoTags": ["busybox:1"],
            "RepoDigests": [],
            "Config": {"User": "", "Env": ["SECRET=hunter2"]},
        },
        f"/images/{IID}/history": [{"CreatedBy": "ENV SECRET=hunter2"}],
        "/networks": [],
    }

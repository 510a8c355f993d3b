"""Container rules on host mounts, devices, the root filesystem and resource limits."""

from __future__ import annotations

import pytest

from rules.base import Outcome
from tests.factories import DROP, check, container, evidence, outcome

FAIL, PASS, UNKNOWN = Outcome.FAIL, Outcome.PASS, Outcome.UNKNOWN


def bind(source: str, target: str, rw: bool = True) -> dict[str, object]:
    """A bind mount as it appears in both HostConfig.Binds and Mounts."""
    return {
        "HostConfig.Binds": [f"{source}:{target}" + ("" if rw else ":ro")],
        "Mounts": [
            {
                "Type": "bind",
                "Source": source,
                "Destination": target,
                "Mode": "" if rw else "ro",
                "RW": rw,
                "Propagation": "rprivate",
            }
        ],
    }


def mount(source: str, target: str, kind: str = "bind", rw: bool = True) -> dict[str, object]:
    """A mount given with --mount: it appears in Mounts only."""
    entry = {"Type": kind, "Source": source, "Destination": target, "RW": rw}
    return {"Mounts": [entry]}


# CTR-DOCKER-SOCKET


@pytest.mark.parametrize(
    "changes",
    [
        bind("/var/run/docker.sock", "/var/run/docker.sock"),
        # Read-only is not a fix: the API is still reachable through the socket.
        bind("/var/run/docker.sock", "/var/run/docker.sock", rw=False),
        bind("/run/containerd/containerd.sock", "/c.sock"),
        bind("/run/user/1000/docker.sock", "/d.sock"),
        bind("/run/podman/podman.sock", "/p.sock"),
        bind("/var/run", "/host/run"),
        bind("/run/user/1000", "/xdg"),
        bind("/", "/rootfs", rw=False),
        mount("//var/run//docker.sock", "/s"),
        {"HostConfig.Binds": ["/var/run/docker.sock:/s:ro"], "Mounts": []},
    ],
)
def test_engine_socket_fails(changes):
    result = check("CTR-DOCKER-SOCKET", container(changes))
    assert result.outcome is FAIL
    assert set(evidence(result)) <= {"HostConfig.Binds", "Mounts"}


def test_socket_evidence_shows_the_entries():
    result = check("CTR-DOCKER-SOCKET", container(bind("/var/run/docker.sock", "/s", rw=False)))
    assert evidence(result) == {
        "HostConfig.Binds": '["/var/run/docker.sock:/s:ro"]',
        "Mounts": '[{"Destination": "/s", "RW": false, "Source": "/var/run/docker.sock", '
        '"Type": "bind"}]',
    }


@pytest.mark.parametrize(
    "changes",
    [
        {},
        bind("/srv/app", "/app"),
        {"HostConfig.Binds": ["docker.sock:/data"], "Mounts": []},  # a named volume
        mount("/var/lib/docker/volumes/x/_data", "/x", kind="volume"),
        {"HostConfig.Binds": "garbage", "Mounts": []},  # Mounts is the complete list
    ],
)
def test_no_socket_passes(changes):
    assert outcome("CTR-DOCKER-SOCKET", container(changes)) is PASS


@pytest.mark.parametrize(
    "changes",
    [{"Mounts": DROP}, {"Mounts": "x"}, {"Mounts": [1]}, {"Mounts": DROP, "HostConfig": DROP}],
)
def test_socket_without_mount_list_is_unknown(changes):
    assert outcome("CTR-DOCKER-SOCKET", container(changes)) is UNKNOWN


def test_socket_in_binds_fails_even_when_mounts_are_unreadable():
    c = container({"HostConfig.Binds": ["/var/run/docker.sock:/s"], "Mounts": DROP})
    assert outcome("CTR-DOCKER-SOCKET", c) is FAIL


# CTR-HOST-PATH and CTR-HOST-PATH-RW


@pytest.mark.parametrize(
    ("changes", "any_mount", "writable"),
    [
        (bind("/etc", "/host/etc", rw=False), FAIL, PASS),
        (bind("/etc", "/host/etc"), FAIL, FAIL),
        (bind("/", "/rootfs", rw=False), FAIL, PASS),
        (bind("/proc", "/host/proc", rw=False), FAIL, PASS),
        (bind("/root/.ssh", "/keys"), FAIL, FAIL),
        (mount("/var/lib/docker", "/docker"), FAIL, FAIL),
        (bind("/tmp/dk1/data/containers", "/c"), FAIL, FAIL),  # the daemon's DockerRootDir
        (bind("/etc/localtime", "/etc/localtime", rw=False), PASS, PASS),
        (bind("/etc/localtime", "/etc/localtime"), FAIL, FAIL),
        (bind("/etcetera", "/x"), PASS, PASS),
        (bind("/srv/app", "/app"), PASS, PASS),
        (mount("/var/lib/docker/volumes/v/_data", "/v", kind="volume"), PASS, PASS),
        ({}, PASS, PASS),
    ],
)
def test_sensitive_host_paths(changes, any_mount, writable):
    c = container(changes)
    assert outcome("CTR-HOST-PATH", c) is any_mount
    assert outcome("CTR-HOST-PATH-RW", c) is writable


def test_host_path_evidence_names_the_mount():
    result = check("CTR-HOST-PATH-RW", container(mount("/etc", "/host/etc")))
    assert evidence(result) == {
        "Mounts": '[{"Destination": "/host/etc", "RW": true, "Source": "/etc", "Type": "bind"}]'
    }


@pytest.mark.parametrize(
    ("bind_spec", "writable"),
    [("/etc:/e", FAIL), ("/etc:/e:rw,z", FAIL), ("/etc:/e:ro", UNKNOWN), ("/etc:/e:z,ro", UNKNOWN)],
)
def test_bind_options_decide_writability_when_mounts_are_unreadable(bind_spec, writable):
    c = container({"HostConfig.Binds": [bind_spec], "Mounts": DROP})
    assert outcome("CTR-HOST-PATH", c) is FAIL
    # A read-only bind proves nothing about mounts given with --mount, hence UNKNOWN.
    assert outcome("CTR-HOST-PATH-RW", c) is writable


@pytest.mark.parametrize("rule_id", ["CTR-HOST-PATH", "CTR-HOST-PATH-RW", "CTR-BIND-RW"])
def test_host_paths_without_mount_list_are_unknown(rule_id):
    assert outcome(rule_id, container({"Mounts": DROP})) is UNKNOWN


# CTR-BIND-RW


def test_writable_bind_fails():
    assert outcome("CTR-BIND-RW", container(bind("/srv/app", "/app"))) is FAIL


@pytest.mark.parametrize("changes", [bind("/srv/app", "/app", rw=False), {}])
def test_read_only_or_no_bind_passes(changes):
    assert outcome("CTR-BIND-RW", container(changes)) is PASS


# CTR-DEVICES


def test_mapped_device_fails():
    device = {"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda", "CgroupPermissions": "rwm"}
    result = check("CTR-DEVICES", container({"HostConfig.Devices": [device]}))
    assert result.outcome is FAIL
    assert "/dev/sda" in evidence(result)["HostConfig.Devices"]


def test_privileged_container_sees_every_device():
    result = check("CTR-DEVICES", container({"HostConfig.Privileged": True}))
    assert evidence(result) == {"HostConfig.Privileged": "true"}


@pytest.mark.parametrize("devices", [[], None])
def test_no_devices_passes(devices):
    assert outcome("CTR-DEVICES", container({"HostConfig.Devices": devices})) is PASS


@pytest.mark.parametrize("devices", [DROP, "/dev/sda", ["/dev/sda"]])
def test_devices_unreadable_is_unknown(devices):
    assert outcome("CTR-DEVICES", container({"HostConfig.Devices": devices})) is UNKNOWN


# CTR-READONLY-ROOTFS


def test_writable_rootfs_fails():
    result = check("CTR-READONLY-ROOTFS", container())
    assert evidence(result) == {"HostConfig.ReadonlyRootfs": "false"}
    assert result.outcome is FAIL


def test_read_only_rootfs_passes():
    assert outcome("CTR-READONLY-ROOTFS", container({"HostConfig.ReadonlyRootfs": True})) is PASS


@pytest.mark.parametrize("value", [DROP, None, "true"])
def test_rootfs_unreadable_is_unknown(value):
    c = container({"HostConfig.ReadonlyRootfs": value})
    assert outcome("CTR-READONLY-ROOTFS", c) is UNKNOWN


# CTR-MEMORY-LIMIT


def test_no_memory_limit_fails():
    result = check("CTR-MEMORY-LIMIT", container())
    assert result.outcome is FAIL
    assert evidence(result) == {"HostConfig.Memory": "0"}


def test_memory_limit_passes():
    assert outcome("CTR-MEMORY-LIMIT", container({"HostConfig.Memory": 536870912})) is PASS


@pytest.mark.parametrize("value", [DROP, "512m", True, 1.5])
def test_memory_unreadable_is_unknown(value):
    assert outcome("CTR-MEMORY-LIMIT", container({"HostConfig.Memory": value})) is UNKNOWN


# CTR-CPU-LIMIT


def test_no_cpu_limit_fails_with_every_field_read():
    result = check("CTR-CPU-LIMIT", container({"HostConfig.CpuShares": 1024}))
    assert result.outcome is FAIL
    assert evidence(result) == {
        "HostConfig.NanoCpus": "0",
        "HostConfig.CpuQuota": "0",
        "HostConfig.CpuShares": "1024",
    }


@pytest.mark.parametrize(
    "changes",
    [
        {"HostConfig.NanoCpus": 1_500_000_000},
        {"HostConfig.CpuQuota": 50000},
        {"HostConfig.CpuShares": 512},
        {"HostConfig.CpusetCpus": "0-1"},
        {"HostConfig.NanoCpus": DROP, "HostConfig.CpuShares": 256},
    ],
)
def test_any_cpu_limit_passes(changes):
    assert outcome("CTR-CPU-LIMIT", container(changes)) is PASS


@pytest.mark.parametrize(
    "changes", [{"HostConfig.NanoCpus": DROP}, {"HostConfig.CpuQuota": "50%"}, {"HostConfig": DROP}]
)
def test_cpu_unreadable_is_unknown(changes):
    # An unread field might have held the limit, so no verdict.
    assert outcome("CTR-CPU-LIMIT", container(changes)) is UNKNOWN


# CTR-PIDS-LIMIT


@pytest.mark.parametrize(("value", "shown"), [(None, "null"), (0, "0"), (-1, "-1")])
def test_unlimited_pids_fails(value, shown):
    result = check("CTR-PIDS-LIMIT", container({"HostConfig.PidsLimit": value}))
    assert result.outcome is FAIL
    assert evidence(result) == {"HostConfig.PidsLimit": shown}


def test_pids_limit_passes():
    assert outcome("CTR-PIDS-LIMIT", container({"HostConfig.PidsLimit": 200})) is PASS


@pytest.mark.parametrize("value", [DROP, "200"])
def test_pids_unreadable_is_unknown(value):
    assert outcome("CTR-PIDS-LIMIT", container({"HostConfig.PidsLimit": value})) is UNKNOWN


# CTR-RESTART-POLICY


def policy(name: object, retries: object = 0) -> dict[str, object]:
    return {"HostConfig.RestartPolicy": {"Name": name, "MaximumRetryCount": retries}}


@pytest.mark.parametrize(
    "changes",
    [policy("always"), policy("unless-stopped"), policy("on-failure", 0), policy("on-failure", 10)],
)
def test_unbounded_restart_fails(changes):
    assert outcome("CTR-RESTART-POLICY", container(changes)) is FAIL


@pytest.mark.parametrize(
    "changes", [policy("no"), policy(""), policy("on-failure", 5), policy("on-failure", 1)]
)
def test_bounded_or_no_restart_passes(changes):
    assert outcome("CTR-RESTART-POLICY", container(changes)) is PASS


@pytest.mark.parametrize(
    "changes",
    [
        {"HostConfig.RestartPolicy": DROP},
        policy("sometimes"),
        policy(3),
        policy("on-failure", "5"),
        {"HostConfig.RestartPolicy": {"Name": "on-failure"}},
    ],
)
def test_restart_unreadable_is_unknown(changes):
    assert outcome("CTR-RESTART-POLICY", container(changes)) is UNKNOWN

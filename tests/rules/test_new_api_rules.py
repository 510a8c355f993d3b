"""Rules on ports, runtime options, image references, daemon configuration, supply chain and
swarm: the cases the lab daemon cannot produce (published ports, shared propagation, swarm)."""

from __future__ import annotations

import pytest

from rules.base import Outcome
from tests.factories import DROP, check, container, evidence, host, image, outcome

FAIL, PASS, UNKNOWN, NA = Outcome.FAIL, Outcome.PASS, Outcome.UNKNOWN, Outcome.NOT_APPLICABLE
MANUAL = Outcome.MANUAL


def ports(*bindings: tuple[str, str, str]) -> dict[str, object]:
    found: dict[str, list[dict[str, str]]] = {}
    for port, ip, host_port in bindings:
        found.setdefault(port, []).append({"HostIp": ip, "HostPort": host_port})
    return {"HostConfig.PortBindings": found, "HostConfig.NetworkMode": "bridge"}


# Ports (CIS 5.8, 5.9, 5.14; OWASP 5a)


def test_privileged_host_port_fails_and_high_port_passes():
    result = check("CTR-PRIVILEGED-PORTS", container(ports(("80/tcp", "127.0.0.1", "80"))))
    assert result.outcome is FAIL
    assert evidence(result) == {"HostConfig.PortBindings": '["127.0.0.1:80->80/tcp"]'}
    assert outcome("CTR-PRIVILEGED-PORTS", container(ports(("80/tcp", "", "8080")))) is PASS
    assert outcome("CTR-PRIVILEGED-PORTS", container(ports(("80/tcp", "", "")))) is PASS


@pytest.mark.parametrize("ip", ["", "0.0.0.0", "::"])
def test_port_on_every_interface_fails(ip):
    assert outcome("CTR-PORT-ALL-INTERFACES", container(ports(("80/tcp", ip, "8080")))) is FAIL


def test_port_bound_to_one_address_passes_and_host_network_is_na():
    bound = container(ports(("80/tcp", "127.0.0.1", "8080"), ("80/tcp", "::1", "8080")))
    assert outcome("CTR-PORT-ALL-INTERFACES", bound) is PASS
    on_host = container({"HostConfig.NetworkMode": "host"})
    assert outcome("CTR-PORT-ALL-INTERFACES", on_host) is NA
    assert outcome("CTR-PORT-ALL-INTERFACES", container({"HostConfig.PortBindings": 3})) is UNKNOWN


def test_publish_all_fails_and_chosen_ports_are_for_a_person():
    assert outcome("CTR-PUBLISH-ALL", container({"HostConfig.PublishAllPorts": True})) is FAIL
    assert outcome("CTR-PUBLISH-ALL", container()) is PASS
    chosen = check("CTR-PUBLISH-ALL", container(ports(("80/tcp", "127.0.0.1", "8080"))))
    assert chosen.outcome is MANUAL and "127.0.0.1:8080->80/tcp" in chosen.reason


def test_default_bridge():
    on_bridge = {"NetworkSettings.Networks": {"bridge": {}}}
    assert outcome("CTR-DEFAULT-BRIDGE", container(on_bridge)) is FAIL
    assert outcome("CTR-DEFAULT-BRIDGE", container()) is PASS  # network none
    legacy = {"NetworkSettings.Networks": DROP, "HostConfig.NetworkMode": "default"}
    assert outcome("CTR-DEFAULT-BRIDGE", container(legacy)) is FAIL


# Runtime options (CIS 5.20, 5.25, 5.27, 5.3)


def test_shared_mount_propagation_fails():
    mounts = [{"Type": "bind", "Source": "/srv", "Destination": "/srv", "Propagation": "rshared"}]
    assert outcome("CTR-MOUNT-PROPAGATION", container({"Mounts": mounts})) is FAIL
    private = [{**mounts[0], "Propagation": "rprivate"}]
    assert outcome("CTR-MOUNT-PROPAGATION", container({"Mounts": private})) is PASS
    assert outcome("CTR-MOUNT-PROPAGATION", container({"Mounts": DROP})) is UNKNOWN


def test_cgroup_parent_is_for_a_person_to_confirm():
    assert outcome("CTR-CGROUP-PARENT", container({"HostConfig.CgroupParent": ""})) is PASS
    custom = check("CTR-CGROUP-PARENT", container({"HostConfig.CgroupParent": "/batch"}))
    assert custom.outcome is MANUAL and "/batch" in custom.reason


def test_runtime_healthcheck():
    assert outcome("CTR-HEALTHCHECK", container()) is FAIL
    checked = {"Config.Healthcheck": {"Test": ["CMD", "true"]}}
    assert outcome("CTR-HEALTHCHECK", container(checked)) is PASS
    disabled = {"Config.Healthcheck": {"Test": ["NONE"]}}
    assert outcome("CTR-HEALTHCHECK", container(disabled)) is FAIL


def test_selinux_only_applies_where_the_daemon_runs_it():
    assert outcome("CTR-SELINUX", container()) is NA
    selinux = {"SecurityOptions": ["name=seccomp,profile=default", "name=selinux"]}
    disabled = {"HostConfig.SecurityOpt": ["label=disable"]}
    assert outcome("CTR-SELINUX", container(disabled, info=selinux)) is FAIL
    assert outcome("CTR-SELINUX", container(info=selinux)) is PASS


# Image references (OWASP 13)


@pytest.mark.parametrize(
    ("ref", "pinned", "latest"),
    [
        ("nginx", FAIL, FAIL),
        ("nginx:latest", FAIL, FAIL),
        ("registry:5000/team/app", FAIL, FAIL),
        ("registry:5000/team/app:1.4", FAIL, PASS),
        ("nginx:1.27@sha256:" + "a" * 64, PASS, PASS),
        ("sha256:" + "b" * 64, PASS, PASS),
    ],
)
def test_image_reference(ref, pinned, latest):
    c = container({"Config.Image": ref})
    assert (outcome("CTR-IMAGE-NOT-PINNED", c), outcome("CTR-IMAGE-LATEST", c)) == (pinned, latest)


# Daemon configuration


@pytest.mark.parametrize(
    ("driver", "expected"),
    [
        ("json-file", FAIL),
        ("local", FAIL),
        ("syslog", PASS),
        ("fluentd", PASS),
        ("journald", MANUAL),
    ],
)
def test_log_driver(driver, expected):
    assert outcome("DMN-LOG-DRIVER", host({"LoggingDriver": driver})) is expected


@pytest.mark.parametrize(
    ("driver", "expected"), [("overlay2", PASS), ("aufs", FAIL), ("devicemapper", FAIL)]
)
def test_storage_driver(driver, expected):
    assert outcome("DMN-STORAGE-DRIVER", host({"Driver": driver})) is expected


def test_daemon_no_new_privileges_from_info():
    nnp = {"SecurityOptions": ["name=seccomp,profile=builtin", "name=no-new-privileges"]}
    assert outcome("DMN-NO-NEW-PRIVILEGES-API", host(nnp)) is PASS
    # 20.10 cannot say; 27 would have said.
    assert outcome("DMN-NO-NEW-PRIVILEGES-API", host()) is UNKNOWN
    new = {"Version": "27.3.1", "Components": []}
    assert outcome("DMN-NO-NEW-PRIVILEGES-API", host(version=new)) is FAIL


def test_swarm_mode():
    assert outcome("DMN-SWARM-MODE", host()) is PASS
    active = {"Swarm.LocalNodeState": "active"}
    assert outcome("DMN-SWARM-MODE", host(active)) is MANUAL


# Swarm (CIS 7.1, 7.3, 7.5)

MANAGER = {
    "Swarm.LocalNodeState": "active",
    "Swarm.ControlAvailable": True,
    "Swarm.Managers": 3,
    "Swarm.Cluster": {"Spec": {"EncryptionConfig": {"AutoLockManagers": False}}},
}
OVERLAY = {"Name": "app-net", "Driver": "overlay", "Options": {}}


def test_swarm_rules_do_not_apply_off_a_manager():
    for rule_id in ("DMN-SWARM-MANAGERS", "DMN-SWARM-OVERLAY-ENCRYPTION", "DMN-SWARM-AUTOLOCK"):
        assert outcome(rule_id, host()) is NA
        worker = {**MANAGER, "Swarm.ControlAvailable": False}
        assert outcome(rule_id, host(worker)) is NA


@pytest.mark.parametrize(("managers", "expected"), [(1, PASS), (3, PASS), (4, FAIL), (9, FAIL)])
def test_swarm_manager_count(managers, expected):
    assert outcome("DMN-SWARM-MANAGERS", host({**MANAGER, "Swarm.Managers": managers})) is expected


def test_swarm_overlay_encryption_and_autolock():
    clear = host(MANAGER, networks=[OVERLAY, {"Name": "bridge", "Driver": "bridge"}])
    result = check("DMN-SWARM-OVERLAY-ENCRYPTION", clear)
    assert result.outcome is FAIL and "app-net" in str(result.evidence)
    sealed = host(MANAGER, networks=[{**OVERLAY, "Options": {"encrypted": ""}}])
    assert outcome("DMN-SWARM-OVERLAY-ENCRYPTION", sealed) is PASS
    assert outcome("DMN-SWARM-AUTOLOCK", host(MANAGER)) is FAIL
    locked = {
        **MANAGER,
        "Swarm.Cluster": {"Spec": {"EncryptionConfig": {"AutoLockManagers": True}}},
    }
    assert outcome("DMN-SWARM-AUTOLOCK", host(locked)) is PASS


# Supply chain (CIS 4.2, 4.4, 4.5, 4.7, 4.8, 4.12)


def history(*lines: str) -> list[dict[str, str]]:
    return [{"CreatedBy": line} for line in lines]


def test_package_cache_and_lone_update():
    dirty = image(
        history=history("/bin/sh -c apt-get update", "/bin/sh -c apt-get install -y curl")
    )
    assert outcome("IMG-PACKAGE-CACHE", dirty) is FAIL
    assert outcome("IMG-UPDATE-ALONE", dirty) is FAIL
    clean = image(
        history=history(
            "/bin/sh -c apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*",
            "/bin/sh -c apk add --no-cache ca-certificates",
            "/bin/sh -c pip install --no-cache-dir -r requirements.txt",
        )
    )
    assert outcome("IMG-PACKAGE-CACHE", clean) is PASS
    assert outcome("IMG-UPDATE-ALONE", clean) is PASS


def test_provenance_labels():
    labelled = {
        "Config.Labels": {
            "org.opencontainers.image.source": "https://git.example/app",
            "org.opencontainers.image.revision": "3f78685",
        }
    }
    assert outcome("IMG-PROVENANCE", image(labelled)) is PASS
    assert outcome("IMG-PROVENANCE", image()) is FAIL


def test_what_the_api_cannot_show_is_said_so():
    assert check("IMG-SETUID", image()).cause is not None
    assert outcome("IMG-SETUID", image()) is UNKNOWN
    for rule_id in ("DMN-IMAGE-SIGNATURES", "DMN-IMAGE-SCANNING", "DMN-TRUSTED-BASE-IMAGES"):
        result = check(rule_id, host())
        assert result.outcome is MANUAL and result.reason

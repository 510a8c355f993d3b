"""Rules whose fields mean something else on Podman or on rootless engines, and the verdicts
they reach there (docs/ENGINES.md). "Not supported" verdicts are NOT_APPLICABLE with
Cause.NOT_SUPPORTED (rules.engines.not_supported).

Each docstring names the verdict the rule reached before it was adapted, which is what a
regression would bring back.
"""

from __future__ import annotations

import pytest

from rules.base import Cause, Outcome, Result
from tests.system.engines.lab import Scan

pytestmark = pytest.mark.docker


def assert_not_supported(result: Result) -> None:
    assert result.outcome is Outcome.NOT_APPLICABLE, result
    assert result.cause is Cause.NOT_SUPPORTED, result


def test_engine_version_table_is_dockers(podman_scan: Scan) -> None:
    """Was: FAIL, Version = "4.3.1" read against Docker Engine's 24/25 "Leaky Vessels"
    table. Podman's releases are another product line (a Podman table would be its own
    rule); Docker's table does not apply."""
    assert_not_supported(podman_scan.result("DMN-ENGINE-VERSION"))


def test_runc_version_is_read_from_podmans_runtime_component(podman_scan: Scan) -> None:
    """Was: UNKNOWN "the daemon reports no runc version". Podman names it in /version
    Components as "OCI Runtime (runc)", Version "runc version 1.1.5+ds1\\ncommit: ..."; read
    there, Debian's 1.1.5+ds1 is a vendor build below 1.1.12 (UNKNOWN, check the tracker).
    With crun instead of runc the CVE does not apply (test_podman_rule_edges)."""
    result = podman_scan.result("DMN-RUNC-VERSION")
    assert result.outcome is Outcome.UNKNOWN, result
    assert "1.1.5+ds1" in result.reason, result


def test_live_restore_does_not_exist(podman_scan: Scan) -> None:
    """Was: FAIL, LiveRestoreEnabled = false, which Podman hard-codes. Podman has no
    daemon holding containers: conmon keeps each one running whatever the API service does."""
    assert_not_supported(podman_scan.result("DMN-LIVE-RESTORE"))


def test_authorization_plugins_do_not_exist(podman_scan: Scan) -> None:
    """Was: FAIL, Plugins.Authorization = null. Podman has no authorization plugins;
    access to its API is the socket's file permissions (and SSH, for remote clients)."""
    assert_not_supported(podman_scan.result("DMN-AUTHZ"))


def test_experimental_flag_is_hard_coded(podman_scan: Scan) -> None:
    """Was: FAIL, ExperimentalBuild = true, which Podman's compat /info always sends."""
    assert_not_supported(podman_scan.result("DMN-EXPERIMENTAL"))


def test_log_driver_is_not_reported(podman_scan: Scan) -> None:
    """Was: MANUAL "check that the '' logging driver forwards logs off the host". Podman's
    compat /info always sends LoggingDriver ""; its default is containers.conf log_driver,
    which the API does not show."""
    assert podman_scan.facts.info["LoggingDriver"] == ""
    assert_not_supported(podman_scan.result("DMN-LOG-DRIVER"))


def test_no_new_privileges_default_is_not_reported(podman_scan: Scan) -> None:
    """Was: UNKNOWN "Engine 4.3.1 does not report ... (it does from Engine 25)", Podman's
    version read against Docker Engine's. Podman's /info never reports it (its default is
    containers.conf no_new_privileges), whatever its version."""
    assert_not_supported(podman_scan.result("DMN-NO-NEW-PRIVILEGES-API"))


def test_userns_remap_is_per_container_on_podman(podman_scan: Scan) -> None:
    """Was: FAIL, SecurityOptions without "name=userns". Podman has no daemon-wide
    userns-remap: user namespaces are chosen per container (--userns=auto, --uidmap) or
    in containers.conf, so CTR-HOST-USERNS judges each container instead."""
    assert_not_supported(podman_scan.result("DMN-USERNS"))


def test_host_user_namespace_is_judged_per_container(podman_scan: Scan) -> None:
    """Was: NOT_APPLICABLE "the daemon does not remap user namespaces" for every container.
    On rootful Podman, HostConfig.UsernsMode "" (or "host") means container root is host
    root: FAIL; "private" (--uidmap, --userns=auto) maps it away: PASS."""
    assert podman_scan.container("pm-root")["HostConfig"]["UsernsMode"] == ""
    assert podman_scan.container("pm-hardened")["HostConfig"]["UsernsMode"] == "private"
    assert podman_scan.result("CTR-HOST-USERNS", "pm-root").outcome is Outcome.FAIL
    assert podman_scan.result("CTR-HOST-USERNS", "pm-hardened").outcome is Outcome.PASS


def test_host_user_namespace_on_rootless_podman(rootless_podman_scan: Scan) -> None:
    # Rootless, container root is the lab user whatever the container asked for.
    result = rootless_podman_scan.result("CTR-HOST-USERNS", "rl-cap-add")
    assert result.outcome is Outcome.NOT_APPLICABLE, result


def test_default_network_always_allows_inter_container_traffic(podman_scan: Scan) -> None:
    """Was: UNKNOWN, the enable_icc option is absent from networks[bridge]. Podman's
    default network (called "bridge" in GET /networks, "podman" in a container's
    NetworkSettings.Networks) has no icc switch: containers on it always reach each other,
    so a container on it (pm-default-net) is a FAIL."""
    networks = podman_scan.container("pm-default-net")["NetworkSettings"]["Networks"]
    assert list(networks) == ["podman"]
    result = podman_scan.result("DMN-ICC")
    assert result.outcome is Outcome.FAIL
    assert "pm-default-net" in result.evidence[0].value, result


def test_container_on_podmans_default_network(podman_scan: Scan) -> None:
    """Was: PASS, NetworkSettings.Networks = ["podman"] (the rule looked for "bridge")."""
    assert podman_scan.result("CTR-DEFAULT-BRIDGE", "pm-default-net").outcome is Outcome.FAIL
    assert podman_scan.result("CTR-DEFAULT-BRIDGE", "pm-hardened").outcome is Outcome.PASS


def test_cap_drop_all_is_spelled_out_by_podman(podman_scan: Scan) -> None:
    """Was: FAIL. Podman reports --cap-drop ALL as the list of every default capability
    (CapDrop ["AUDIT_WRITE", "CHOWN", ...]), never "ALL"; covering the whole default set
    is the same hardening."""
    dropped = podman_scan.container("pm-hardened")["HostConfig"]["CapDrop"]
    assert "ALL" not in dropped and len(dropped) >= 11
    assert podman_scan.result("CTR-CAP-DROP", "pm-hardened").outcome is Outcome.PASS


def test_cap_added_back_after_drop_all_is_left_to_a_person(podman_scan: Scan) -> None:
    """GIVEN --cap-drop ALL --cap-add NET_BIND_SERVICE, the cheat sheet's pattern
    THEN Podman shows NET_BIND_SERVICE neither dropped nor added, exactly as it would show
    a container that dropped every other default one by name: MANUAL, naming what remains."""
    host_config = podman_scan.container("pm-cap-back")["HostConfig"]
    assert "NET_BIND_SERVICE" not in host_config["CapDrop"]
    assert not host_config["CapAdd"]
    result = podman_scan.result("CTR-CAP-DROP", "pm-cap-back")
    assert result.outcome is Outcome.MANUAL, result
    assert "NET_BIND_SERVICE" in result.reason


def test_podman_default_capabilities_fail(podman_scan: Scan) -> None:
    # Podman's stock set already lacks AUDIT_WRITE, MKNOD and NET_RAW; that is not hardening.
    assert podman_scan.container("pm-root")["HostConfig"]["CapDrop"] == [
        "AUDIT_WRITE",
        "MKNOD",
        "NET_RAW",
    ]
    assert podman_scan.result("CTR-CAP-DROP", "pm-root").outcome is Outcome.FAIL


def test_local_image_digest_is_not_a_registry_digest(podman_scan: Scan) -> None:
    """Was: PASS. Podman gives every image a RepoDigest, imported and locally built ones
    under localhost/ too, where Docker gives none: a localhost/ digest traces to no registry."""
    image = next(i for i in podman_scan.facts.images if "busybox" in i.name)
    assert all(d.startswith("localhost/") for d in image.inspect["RepoDigests"])
    assert podman_scan.result("IMG-DIGEST", image.name).outcome is Outcome.FAIL


def test_daemon_seccomp_default_is_invisible(lax_podman_scan: Scan) -> None:
    """Was: PASS on a host whose containers.conf turns seccomp off for every container.
    Podman always reports profile=default; the real default is only in containers.conf,
    so through the API the verdict is UNKNOWN (CTR-SECCOMP still judges what each
    container's own options show)."""
    result = lax_podman_scan.result("DMN-SECCOMP")
    assert result.outcome is Outcome.UNKNOWN, result
    assert result.cause is Cause.NOT_SUPPORTED, result


def test_rootless_podman_is_credited(rootless_podman_scan: Scan) -> None:
    """Was: FAIL. Podman 4.3 reports rootless only as /info Rootless = true, not as
    SecurityOptions "name=rootless" (rules.engines.is_rootless reads both)."""
    result = rootless_podman_scan.result("DMN-ROOTLESS")
    assert result.outcome is Outcome.PASS, result
    assert str(result.evidence[0]) == "Rootless = true"


def test_rootless_podman_counts_as_remapped(rootless_podman_scan: Scan) -> None:
    """Was: FAIL, for the same reason: rootless gives the protection userns-remap gives."""
    assert rootless_podman_scan.result("DMN-USERNS").outcome is Outcome.PASS


@pytest.mark.parametrize(
    ("rule_id", "limit_field"),
    [
        ("CTR-MEMORY-LIMIT", "HostConfig.Memory"),
        ("CTR-CPU-LIMIT", "HostConfig.NanoCpus"),
        ("CTR-PIDS-LIMIT", "HostConfig.PidsLimit"),
    ],
)
def test_limits_a_rootless_dockerd_cannot_apply(
    rootless_docker_scan: Scan, rule_id: str, limit_field: str
) -> None:
    """Was: PASS on HostConfig's 64 MiB / 0.5 CPU / 64 pids. Rootless dockerd without
    cgroup v2 and systemd reports CgroupDriver "none" (and MemoryLimit, PidsLimit,
    CpuCfsQuota false) and applies none of them: nothing limits the container."""
    result = rootless_docker_scan.result(rule_id, "rd-limits")
    assert result.outcome is Outcome.FAIL, result
    assert [e.field for e in result.evidence] == ["CgroupDriver", limit_field]
    assert str(result.evidence[0]) == 'CgroupDriver = "none"'

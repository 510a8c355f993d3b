"""Daemon rules over GET /info, GET /version and GET /networks."""

from __future__ import annotations

import copy

import pytest

from rules.base import Outcome
from tests.factories import BRIDGE, DROP, NETWORKS, check, container, evidence, host, outcome

FAIL, PASS, UNKNOWN, NA = Outcome.FAIL, Outcome.PASS, Outcome.UNKNOWN, Outcome.NOT_APPLICABLE


def options(*entries: str) -> dict[str, object]:
    return {"SecurityOptions": list(entries)}


# DMN-USERNS


def test_no_userns_remap_fails():
    result = check("DMN-USERNS", host())
    assert result.outcome is FAIL
    assert evidence(result) == {"SecurityOptions": '["name=seccomp,profile=default"]'}


@pytest.mark.parametrize(
    "info",
    [
        options("name=seccomp,profile=default", "name=userns"),
        options("name=seccomp,profile=default", "name=rootless"),
    ],
)
def test_userns_remap_or_rootless_passes(info):
    assert outcome("DMN-USERNS", host(info)) is PASS


@pytest.mark.parametrize("info", [{"SecurityOptions": DROP}, {"SecurityOptions": "name=userns"}])
def test_userns_unreadable_is_unknown(info):
    assert outcome("DMN-USERNS", host(info)) is UNKNOWN


# DMN-ICC


def bridge(icc: str | None) -> dict[str, object]:
    net = copy.deepcopy(BRIDGE)
    if icc is None:
        del net["Options"]["com.docker.network.bridge.enable_icc"]
    else:
        net["Options"]["com.docker.network.bridge.enable_icc"] = icc
    return net


def on_bridge():
    return container(
        {"NetworkSettings.Networks": {"bridge": {"IPAddress": "172.17.0.2"}}}, linked=False
    )


def test_icc_on_with_a_container_on_the_default_bridge_fails():
    result = check("DMN-ICC", host(networks=[*NETWORKS, bridge("true")], containers=[on_bridge()]))
    assert result.outcome is FAIL
    assert evidence(result) == {
        "networks[bridge].Options.com.docker.network.bridge.enable_icc": '"true"',
        "containers on network bridge": '["t1"]',
    }


def test_icc_off_passes():
    h = host(networks=[*NETWORKS, bridge("false")], containers=[on_bridge()])
    assert outcome("DMN-ICC", h) is PASS


def test_icc_on_with_every_container_on_user_networks_passes():
    # The cheat sheet prefers user-defined networks to --icc=false.
    h = host(networks=[*NETWORKS, bridge("true")], containers=[container(linked=False)])
    assert outcome("DMN-ICC", h) is PASS


def test_icc_not_applicable_without_default_bridge():
    # The real test daemon runs with "bridge": "none".
    assert outcome("DMN-ICC", host()) is NA


@pytest.mark.parametrize("networks", [[], [*NETWORKS, bridge(None)]])
def test_icc_without_data_is_unknown(networks):
    assert outcome("DMN-ICC", host(networks=networks)) is UNKNOWN


# DMN-DEBUG, DMN-LIVE-RESTORE, DMN-EXPERIMENTAL: plain booleans from /info

BOOLEANS = [
    ("DMN-DEBUG", "Debug", True),
    ("DMN-LIVE-RESTORE", "LiveRestoreEnabled", False),
    ("DMN-EXPERIMENTAL", "ExperimentalBuild", True),
]


@pytest.mark.parametrize(("rule_id", "field", "bad"), BOOLEANS)
def test_daemon_flag_fails(rule_id, field, bad):
    result = check(rule_id, host({field: bad}))
    assert result.outcome is FAIL
    assert evidence(result) == {field: str(bad).lower()}


@pytest.mark.parametrize(("rule_id", "field", "bad"), BOOLEANS)
def test_daemon_flag_passes(rule_id, field, bad):
    assert outcome(rule_id, host({field: not bad})) is PASS


@pytest.mark.parametrize(("rule_id", "field", "_"), BOOLEANS)
@pytest.mark.parametrize("value", [DROP, None, "false"])
def test_daemon_flag_unreadable_is_unknown(rule_id, field, _, value):
    assert outcome(rule_id, host({field: value})) is UNKNOWN


def test_live_restore_not_applicable_in_swarm_mode():
    assert outcome("DMN-LIVE-RESTORE", host({"Swarm.LocalNodeState": "active"})) is NA


# DMN-ROOTLESS


def test_rootless_passes():
    assert (
        outcome("DMN-ROOTLESS", host(options("name=seccomp,profile=default", "name=rootless")))
        is PASS
    )


def test_rootful_daemon_fails():
    assert outcome("DMN-ROOTLESS", host()) is FAIL


def test_rootless_unreadable_is_unknown():
    assert outcome("DMN-ROOTLESS", host({"SecurityOptions": DROP})) is UNKNOWN


# DMN-SECCOMP


def test_daemon_wide_unconfined_seccomp_fails():
    result = check("DMN-SECCOMP", host(options("name=seccomp,profile=unconfined")))
    assert result.outcome is FAIL
    assert evidence(result) == {"SecurityOptions": '["name=seccomp,profile=unconfined"]'}


@pytest.mark.parametrize("profile", ["default", "builtin"])
def test_daemon_builtin_seccomp_profile_passes(profile):
    assert outcome("DMN-SECCOMP", host(options(f"name=seccomp,profile={profile}"))) is PASS


def test_daemon_custom_seccomp_profile_needs_a_person_to_read_it():
    """/info shows a custom profile only by path: an allow-all file looks the same."""
    result = check("DMN-SECCOMP", host(options("name=seccomp,profile=/etc/docker/sc.json")))
    assert result.outcome is Outcome.MANUAL
    assert "/etc/docker/sc.json" in result.reason


@pytest.mark.parametrize(
    "info", [options(), options("name=apparmor"), {"SecurityOptions": DROP}, {"SecurityOptions": 1}]
)
def test_daemon_seccomp_without_support_or_data_is_unknown(info):
    assert outcome("DMN-SECCOMP", host(info)) is UNKNOWN


# DMN-AUTHZ


@pytest.mark.parametrize("plugins", [None, []])
def test_no_authorization_plugin_fails(plugins):
    result = check("DMN-AUTHZ", host({"Plugins.Authorization": plugins}))
    assert result.outcome is FAIL
    assert "Plugins.Authorization" in evidence(result)


def test_authorization_plugin_passes():
    assert outcome("DMN-AUTHZ", host({"Plugins.Authorization": ["opa-docker-authz"]})) is PASS


@pytest.mark.parametrize("info", [{"Plugins": DROP}, {"Plugins.Authorization": "opa"}])
def test_authorization_unreadable_is_unknown(info):
    assert outcome("DMN-AUTHZ", host(info)) is UNKNOWN


# DMN-INSECURE-REGISTRY


def test_default_registry_config_passes():
    assert outcome("DMN-INSECURE-REGISTRY", host()) is PASS


def test_extra_insecure_cidr_fails():
    info = {"RegistryConfig.InsecureRegistryCIDRs": ["127.0.0.0/8", "10.0.0.0/8"]}
    assert outcome("DMN-INSECURE-REGISTRY", host(info)) is FAIL


def test_named_insecure_registry_fails():
    h = host()  # set by hand: the registry name has dots, which apply() would split on
    h.info["RegistryConfig"]["IndexConfigs"]["reg.local:5000"] = {"Secure": False}
    result = check("DMN-INSECURE-REGISTRY", h)
    assert result.outcome is FAIL
    assert evidence(result)["RegistryConfig.IndexConfigs (Secure: false)"] == '["reg.local:5000"]'


def test_insecure_registry_unreadable_is_unknown():
    assert outcome("DMN-INSECURE-REGISTRY", host({"RegistryConfig": DROP})) is UNKNOWN


# DMN-ENGINE-VERSION


def engine(version: object, commit: object = "abc1234") -> dict[str, object]:
    return {
        "Version": version,
        "GitCommit": commit,
        "Components": [{"Name": "Engine", "Version": version, "Details": {"GitCommit": commit}}],
    }


@pytest.mark.parametrize("version", ["25.0.1", "24.0.8", "23.0.15", "20.10.24", "25.0.0-rc.1"])
def test_engine_before_fix_fails(version):
    result = check("DMN-ENGINE-VERSION", host(version=engine(version)))
    assert result.outcome is FAIL
    assert evidence(result) == {"Version": f'"{version}"'}


@pytest.mark.parametrize("version", ["25.0.2", "24.0.9", "26.0.0", "28.2.2", "27.3.1"])
def test_engine_with_fix_passes(version):
    assert outcome("DMN-ENGINE-VERSION", host(version=engine(version))) is PASS


@pytest.mark.parametrize(
    ("version", "commit"),
    [
        ("20.10.24+dfsg1", "5d6db84"),  # the real Debian test daemon
        ("24.0.7", "24.0.7-0ubuntu2~22.04.1"),  # Ubuntu: the mark is only in GitCommit
        ("not-a-version", "abc"),
        (None, None),
    ],
)
def test_engine_vendor_build_or_unreadable_is_unknown(version, commit):
    assert outcome("DMN-ENGINE-VERSION", host(version=engine(version, commit))) is UNKNOWN


def test_engine_version_falls_back_to_components():
    h = host(version={"Version": DROP})
    h.version["Components"][0] = {"Name": "Engine", "Version": "24.0.5", "Details": {}}
    result = check("DMN-ENGINE-VERSION", h)
    assert result.outcome is FAIL
    assert evidence(result) == {"Components[Engine].Version": '"24.0.5"'}


def test_engine_version_missing_is_unknown():
    assert (
        outcome("DMN-ENGINE-VERSION", host(version={"Version": DROP, "Components": DROP}))
        is UNKNOWN
    )


# DMN-RUNC-VERSION


def runc(version: str, commit: str) -> dict[str, object]:
    return {"Components": [{"Name": "runc", "Version": version, "Details": {"GitCommit": commit}}]}


def test_runc_before_fix_fails():
    result = check("DMN-RUNC-VERSION", host(version=runc("1.1.11", "v1.1.11-0-g4bccb38")))
    assert result.outcome is FAIL
    assert evidence(result) == {"Components[runc].Version": '"1.1.11"'}


@pytest.mark.parametrize("version", ["1.1.12", "1.2.0", "1.10.0"])
def test_runc_with_fix_passes(version):
    assert outcome("DMN-RUNC-VERSION", host(version=runc(version, f"v{version}-0-gabc"))) is PASS


def test_distribution_runc_below_fix_is_unknown():
    # The real test daemon: Debian's 1.1.5+ds1 may carry a backported fix.
    result = check("DMN-RUNC-VERSION", host())
    assert result.outcome is UNKNOWN
    assert "1.1.5+ds1" in result.reason


@pytest.mark.parametrize(
    ("commit", "expected"), [("v1.1.11-0-g4bccb38", FAIL), ("v1.1.12-0-g51d5e94", PASS)]
)
def test_runc_version_falls_back_to_info(commit, expected):
    h = host({"RuncCommit.ID": commit}, version={"Components": []})
    result = check("DMN-RUNC-VERSION", h)
    assert result.outcome is expected
    assert list(evidence(result)) == ["RuncCommit.ID"]


@pytest.mark.parametrize(
    "info", [{"RuncCommit": DROP}, {"RuncCommit.ID": ""}, {"RuncCommit.ID": "51d5e94601ce"}]
)
def test_runc_version_missing_is_unknown(info):
    assert outcome("DMN-RUNC-VERSION", host(info, version={"Components": DROP})) is UNKNOWN

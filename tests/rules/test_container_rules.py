"""Container rules on privilege, Linux security modules and namespaces."""

from __future__ import annotations

import pytest

from rules.base import Outcome
from tests.factories import DROP, T2, check, container, evidence, outcome

FAIL, PASS, UNKNOWN, NA = Outcome.FAIL, Outcome.PASS, Outcome.UNKNOWN, Outcome.NOT_APPLICABLE
APPARMOR_HOST = {"SecurityOptions": ["name=apparmor", "name=seccomp,profile=default"]}
NO_LSM_HOST = {"SecurityOptions": []}


# CTR-PRIVILEGED


def test_privileged_fails_with_the_flag_as_evidence():
    result = check("CTR-PRIVILEGED", container(base=T2))
    assert result.outcome is FAIL
    assert evidence(result) == {"HostConfig.Privileged": "true"}


def test_unprivileged_passes():
    assert outcome("CTR-PRIVILEGED", container()) is PASS


@pytest.mark.parametrize("value", [DROP, "true", None, 1])
def test_privileged_unreadable_is_unknown(value):
    assert outcome("CTR-PRIVILEGED", container({"HostConfig.Privileged": value})) is UNKNOWN


# CTR-USER


@pytest.mark.parametrize("user", ["", "0", "root", "0:0", "root:staff", "00", " root "])
def test_root_user_fails(user):
    result = check("CTR-USER", container({"Config.User": user}))
    assert result.outcome is FAIL
    assert "Config.User" in evidence(result)


@pytest.mark.parametrize("user", ["1000", "app", "1000:0", "nobody:nogroup"])
def test_non_root_user_passes(user):
    assert outcome("CTR-USER", container({"Config.User": user})) is PASS


@pytest.mark.parametrize("changes", [{"Config": DROP}, {"Config.User": DROP}, {"Config.User": 0}])
def test_user_unreadable_is_unknown(changes):
    assert outcome("CTR-USER", container(changes)) is UNKNOWN


# CTR-CAP-ADD


def test_dangerous_capability_fails_and_is_named():
    result = check("CTR-CAP-ADD", container({"HostConfig.CapAdd": ["CAP_SYS_ADMIN", "CHOWN"]}))
    assert result.outcome is FAIL
    assert evidence(result) == {
        "HostConfig.CapAdd": '["CAP_SYS_ADMIN", "CHOWN"]',
        "HostConfig.CapAdd (dangerous)": '["CAP_SYS_ADMIN"]',
    }


def test_non_default_capability_fails_without_dangerous_note():
    result = check("CTR-CAP-ADD", container({"HostConfig.CapAdd": ["SYS_TIME"]}))
    assert result.outcome is FAIL
    assert list(evidence(result)) == ["HostConfig.CapAdd"]


@pytest.mark.parametrize("added", [None, [], ["chown"], ["CAP_NET_BIND_SERVICE"]])
def test_default_capabilities_pass(added):
    # --cap-drop ALL --cap-add CHOWN is the cheat sheet's own recommendation.
    assert outcome("CTR-CAP-ADD", container({"HostConfig.CapAdd": added})) is PASS


def test_privileged_container_has_every_capability():
    result = check("CTR-CAP-ADD", container(base=T2))
    assert result.outcome is FAIL
    assert evidence(result) == {"HostConfig.Privileged": "true"}


@pytest.mark.parametrize("added", [DROP, "SYS_ADMIN", [1]])
def test_cap_add_unreadable_is_unknown(added):
    assert outcome("CTR-CAP-ADD", container({"HostConfig.CapAdd": added})) is UNKNOWN


# CTR-CAP-DROP


@pytest.mark.parametrize("dropped", [["ALL"], ["all"], ["NET_RAW", "CAP_ALL"]])
def test_dropping_all_passes(dropped):
    assert outcome("CTR-CAP-DROP", container({"HostConfig.CapDrop": dropped})) is PASS


@pytest.mark.parametrize("dropped", [None, ["NET_RAW"]])
def test_not_dropping_all_fails(dropped):
    assert outcome("CTR-CAP-DROP", container({"HostConfig.CapDrop": dropped})) is FAIL


def test_cap_drop_is_ignored_for_privileged_containers():
    result = check("CTR-CAP-DROP", container({"HostConfig.CapDrop": ["ALL"]}, base=T2))
    assert result.outcome is FAIL
    assert evidence(result) == {"HostConfig.Privileged": "true"}


@pytest.mark.parametrize("dropped", [DROP, "ALL"])
def test_cap_drop_unreadable_is_unknown(dropped):
    assert outcome("CTR-CAP-DROP", container({"HostConfig.CapDrop": dropped})) is UNKNOWN


# CTR-NO-NEW-PRIVILEGES


@pytest.mark.parametrize(
    "opt",
    [
        "no-new-privileges",
        "no-new-privileges:true",
        "no-new-privileges=true",
        "no-new-privileges=1",
    ],
)
def test_no_new_privileges_passes(opt):
    c = container({"HostConfig.SecurityOpt": ["label=disable", opt]})
    assert outcome("CTR-NO-NEW-PRIVILEGES", c) is PASS


@pytest.mark.parametrize("opts", [None, [], ["no-new-privileges=false"], ["label=disable"]])
def test_missing_no_new_privileges_fails(opts):
    result = check("CTR-NO-NEW-PRIVILEGES", container({"HostConfig.SecurityOpt": opts}))
    assert result.outcome is FAIL
    assert "HostConfig.SecurityOpt" in evidence(result)


@pytest.mark.parametrize("opts", [DROP, "no-new-privileges"])
def test_security_opt_unreadable_is_unknown(opts):
    c = container({"HostConfig.SecurityOpt": opts})
    assert outcome("CTR-NO-NEW-PRIVILEGES", c) is UNKNOWN


# CTR-SECCOMP


@pytest.mark.parametrize("opt", ["seccomp=unconfined", "seccomp:unconfined", "seccomp=Unconfined"])
def test_seccomp_unconfined_fails(opt):
    result = check("CTR-SECCOMP", container({"HostConfig.SecurityOpt": [opt]}))
    assert result.outcome is FAIL
    assert "HostConfig.SecurityOpt" in evidence(result)


def test_seccomp_off_for_privileged_container():
    result = check("CTR-SECCOMP", container(base=T2))
    assert result.outcome is FAIL
    assert evidence(result) == {"HostConfig.Privileged": "true"}


def test_daemon_wide_unconfined_seccomp_fails():
    c = container(info={"SecurityOptions": ["name=seccomp,profile=unconfined"]})
    result = check("CTR-SECCOMP", c)
    assert result.outcome is FAIL
    assert evidence(result) == {"info.SecurityOptions": '["name=seccomp,profile=unconfined"]'}


def test_own_profile_overrides_daemon_wide_unconfined():
    c = container(
        {"HostConfig.SecurityOpt": ['seccomp={"defaultAction":"SCMP_ACT_ERRNO"}']},
        info={"SecurityOptions": ["name=seccomp,profile=unconfined"]},
    )
    assert outcome("CTR-SECCOMP", c) is PASS


def test_default_seccomp_passes():
    assert outcome("CTR-SECCOMP", container()) is PASS


def test_inline_seccomp_profile_passes_and_evidence_stays_short():
    profile = 'seccomp={"defaultAction":"SCMP_ACT_ERRNO","syscalls":[]}'
    result = check("CTR-SECCOMP", container({"HostConfig.SecurityOpt": [profile]}))
    assert result.outcome is PASS
    assert evidence(result) == {"HostConfig.SecurityOpt": '["seccomp=<inline profile>"]'}


def test_seccomp_not_applicable_when_daemon_lacks_it():
    assert outcome("CTR-SECCOMP", container(base=T2, info=NO_LSM_HOST)) is NA


def test_explicit_seccomp_opt_out_fails_even_without_daemon_support():
    c = container({"HostConfig.SecurityOpt": ["seccomp=unconfined"]}, info=NO_LSM_HOST)
    assert outcome("CTR-SECCOMP", c) is FAIL


@pytest.mark.parametrize(
    "c",
    [
        container(linked=False),
        container({"HostConfig.SecurityOpt": DROP}),
        container({"HostConfig.Privileged": DROP}),
        container(info={"SecurityOptions": DROP}),
    ],
)
def test_seccomp_without_data_is_unknown(c):
    assert outcome("CTR-SECCOMP", c) is UNKNOWN


# CTR-APPARMOR


def test_apparmor_default_profile_passes():
    c = container({"AppArmorProfile": "docker-default"}, info=APPARMOR_HOST)
    result = check("CTR-APPARMOR", c)
    assert result.outcome is PASS
    assert evidence(result) == {"AppArmorProfile": '"docker-default"'}


@pytest.mark.parametrize("opt", ["apparmor=unconfined", "apparmor:unconfined"])
def test_apparmor_opt_out_fails(opt):
    c = container({"HostConfig.SecurityOpt": [opt]}, info=APPARMOR_HOST)
    assert outcome("CTR-APPARMOR", c) is FAIL


def test_apparmor_unconfined_profile_fails():
    c = container({"AppArmorProfile": "unconfined"}, info=APPARMOR_HOST)
    assert evidence(check("CTR-APPARMOR", c)) == {"AppArmorProfile": '"unconfined"'}


def test_apparmor_off_for_privileged_container():
    result = check("CTR-APPARMOR", container(base=T2, info=APPARMOR_HOST))
    assert result.outcome is FAIL
    assert evidence(result) == {"HostConfig.Privileged": "true"}


def test_named_apparmor_profile_applies_even_when_privileged():
    c = container({"HostConfig.SecurityOpt": ["apparmor=my-profile"]}, base=T2, info=APPARMOR_HOST)
    assert outcome("CTR-APPARMOR", c) is PASS


def test_apparmor_not_applicable_on_host_without_it():
    # The real test daemon: privileged t2 on a host whose /info lists no apparmor.
    assert outcome("CTR-APPARMOR", container(base=T2)) is NA


def test_explicit_apparmor_opt_out_fails_even_on_host_without_it():
    c = container({"HostConfig.SecurityOpt": ["apparmor=unconfined"]})
    assert outcome("CTR-APPARMOR", c) is FAIL


@pytest.mark.parametrize(
    "c",
    [
        container(linked=False),  # empty profile, daemon support unknown
        container(info=APPARMOR_HOST),  # AppArmor host, no profile recorded yet
        container({"HostConfig.SecurityOpt": 7}, info=APPARMOR_HOST),
        container({"HostConfig.Privileged": DROP}, info=APPARMOR_HOST),
        container({"AppArmorProfile": DROP}, info=APPARMOR_HOST),
    ],
)
def test_apparmor_without_data_is_unknown(c):
    assert outcome("CTR-APPARMOR", c) is UNKNOWN


# CTR-HOST-NETWORK, CTR-HOST-PID, CTR-HOST-IPC, CTR-HOST-UTS

NAMESPACES = [
    ("CTR-HOST-NETWORK", "HostConfig.NetworkMode", ["bridge", "none", "app-net", "container:ab"]),
    ("CTR-HOST-PID", "HostConfig.PidMode", ["", "container:ab"]),
    ("CTR-HOST-IPC", "HostConfig.IpcMode", ["private", "shareable", "", "container:ab"]),
    ("CTR-HOST-UTS", "HostConfig.UTSMode", [""]),
]


@pytest.mark.parametrize(("rule_id", "path", "_"), NAMESPACES)
def test_host_namespace_fails(rule_id, path, _):
    result = check(rule_id, container({path: "host"}))
    assert result.outcome is FAIL
    assert evidence(result) == {path: '"host"'}


@pytest.mark.parametrize(
    ("rule_id", "path", "value"), [(r, p, v) for r, p, values in NAMESPACES for v in values]
)
def test_private_namespace_passes(rule_id, path, value):
    assert outcome(rule_id, container({path: value})) is PASS


@pytest.mark.parametrize(("rule_id", "path", "_"), NAMESPACES)
@pytest.mark.parametrize("value", [DROP, ["host"]])
def test_namespace_unreadable_is_unknown(rule_id, path, _, value):
    assert outcome(rule_id, container({path: value})) is UNKNOWN


# CTR-HOST-USERNS

USERNS_HOST = {"SecurityOptions": ["name=seccomp,profile=default", "name=userns"]}


def test_userns_opt_out_fails_on_remapping_daemon():
    c = container({"HostConfig.UsernsMode": "host"}, info=USERNS_HOST)
    assert outcome("CTR-HOST-USERNS", c) is FAIL


def test_remapped_container_passes():
    assert outcome("CTR-HOST-USERNS", container(info=USERNS_HOST)) is PASS


def test_userns_not_applicable_without_remapping():
    assert outcome("CTR-HOST-USERNS", container({"HostConfig.UsernsMode": "host"})) is NA


@pytest.mark.parametrize(
    "c",
    [
        container(linked=False),
        container({"HostConfig.UsernsMode": DROP}, info=USERNS_HOST),
        container(info={"SecurityOptions": "name=userns"}),
    ],
)
def test_userns_without_data_is_unknown(c):
    assert outcome("CTR-HOST-USERNS", c) is UNKNOWN

"""The host rules against real hosts set up by the tests: an sshd chrooting an unprivileged
user into a tree with wrong owners and modes ("bad") or a correct one ("good")."""

from __future__ import annotations

import pytest

from lab.hostroot import HostRoot
from rules import REGISTRY, Outcome
from rules.base import Cause, Result, Rule
from rules.facts import HostAccess, HostFacts

pytestmark = pytest.mark.ssh

HOST_RULES = sorted(
    (r for r in REGISTRY.values() if r.check.__module__.startswith("rules.host")),
    key=lambda r: r.id,
)
PASS, FAIL, NA, UNKNOWN, MANUAL = (
    Outcome.PASS,
    Outcome.FAIL,
    Outcome.NOT_APPLICABLE,
    Outcome.UNKNOWN,
    Outcome.MANUAL,
)


def verdicts(access: HostAccess) -> dict[str, Result]:
    facts = HostFacts(version={}, info={"DockerRootDir": "/var/lib/docker"}, host=access)
    return {r.id: r.check(facts) for r in HOST_RULES}


def shown(result: Result) -> list[str]:
    return [str(e) for e in result.evidence]


def test_the_catalogue_has_the_host_checks_of_sections_1_to_3() -> None:
    cis = {c for r in HOST_RULES for c in r.cis}
    assert {f"1.1.{n}" for n in range(1, 19)} <= cis
    assert {f"3.{n}" for n in range(1, 25)} <= cis
    assert {"1.2.1", "2.2", "2.3", "2.4", "2.7", "2.8", "2.14", "2.16"} <= cis
    assert all(r.cis_level in (1, 2) and r.decided_by for r in HOST_RULES)


BAD_EVIDENCE = {
    "DMN-FILE-DAEMON-JSON-OWNER": ["stat /etc/docker/daemon.json = owner=1000:1000 mode=0666"],
    "DMN-FILE-DAEMON-JSON-MODE": ["stat /etc/docker/daemon.json = owner=1000:1000 mode=0666"],
    "DMN-FILE-SERVICE-OWNER": [
        "stat /lib/systemd/system/docker.service = owner=1000:1000 mode=0666"
    ],
    "DMN-FILE-SERVICE-MODE": [
        "stat /lib/systemd/system/docker.service = owner=1000:1000 mode=0666"
    ],
    "DMN-FILE-SOCKET-UNIT-MODE": [
        "stat /lib/systemd/system/docker.socket = owner=root:root mode=0664"
    ],
    "DMN-FILE-ETC-DOCKER-OWNER": ["stat /etc/docker = owner=1000:1000 mode=0777"],
    "DMN-FILE-ETC-DOCKER-MODE": ["stat /etc/docker = owner=1000:1000 mode=0777"],
    "DMN-FILE-REGISTRY-CERTS-MODE": [
        "stat /etc/docker/certs.d/registry.example:5000/ca.crt = owner=1000:1000 mode=0666"
    ],
    "DMN-FILE-TLS-CA-OWNER": ["stat /etc/docker/tls/ca.pem = owner=1000:1000 mode=0644"],
    "DMN-FILE-TLS-CA-MODE": ["stat /etc/docker/tls/ca.pem = owner=1000:1000 mode=0644"],
    "DMN-FILE-TLS-KEY-MODE": ["stat /etc/docker/tls/server-key.pem = owner=root:root mode=0644"],
    "DMN-FILE-DOCKER-SOCK-OWNER": ["stat /var/run/docker.sock = owner=1000:1000 mode=0666"],
    "DMN-FILE-DOCKER-SOCK-MODE": ["stat /var/run/docker.sock = owner=1000:1000 mode=0666"],
    "DMN-FILE-DEFAULT-DOCKER-OWNER": ["stat /etc/default/docker = owner=root:1000 mode=0646"],
    "DMN-FILE-DEFAULT-DOCKER-MODE": ["stat /etc/default/docker = owner=root:1000 mode=0646"],
    "DMN-FILE-CONTAINERD-SOCK-MODE": [
        "stat /run/containerd/containerd.sock = owner=root:root mode=0666"
    ],
    "DMN-TCP-TLS": [
        "/etc/docker/daemon.json hosts = tcp://0.0.0.0:2375",
        "--tlsverify / daemon.json tlsverify = not set (false)",
    ],
    "DMN-LOG-LEVEL": ["/etc/docker/daemon.json log-level = debug"],
    "DMN-ICC-CONFIG": ["--icc / daemon.json icc = not set (default true)"],
    "DMN-AUDIT-DOCKERD": [
        "/etc/audit rules files (auditctl not installed) = no rule watches /usr/bin/dockerd"
    ],
}


def test_the_bad_host_fails_with_the_exact_stat_and_setting(bad_access: HostAccess) -> None:
    """GIVEN a host whose daemon.json opens tcp://0.0.0.0:2375 without TLS at log-level
    debug, with files owned by uid 1000 and world-writable
    WHEN the rules read what SSH collected
    THEN each fails with the file's owner and mode, or the setting, as evidence."""
    results = verdicts(bad_access)
    for rule_id, evidence in BAD_EVIDENCE.items():
        assert results[rule_id].outcome is FAIL, (rule_id, results[rule_id])
        assert shown(results[rule_id]) == evidence, rule_id
    failing = {i for i, r in results.items() if r.outcome is FAIL}
    assert {f"DMN-AUDIT-{t}" for t in ("RUN-CONTAINERD", "ETC-DOCKER", "DAEMON-JSON")} <= failing
    assert results["DMN-TCP-TLS"].outcome is FAIL and REGISTRY["DMN-TCP-TLS"].severity.label == (
        "critical"
    )
    # Right where the bad host is right: the server certificate and the socket unit's owner.
    assert results["DMN-FILE-TLS-CERT-MODE"].outcome is PASS
    assert results["DMN-FILE-SOCKET-UNIT-OWNER"].outcome is PASS
    # Files the host does not have are not applicable (CIS convention).
    assert results["DMN-AUDIT-CONTAINERD-CONFIG"].outcome is NA
    assert results["DMN-AUDIT-SHIM-RUNC-V1"].outcome is NA


def test_the_docker_group_members_are_listed_for_a_person(bad_access: HostAccess) -> None:
    result = verdicts(bad_access)["DMN-DOCKER-GROUP"]
    assert result.outcome is MANUAL
    assert shown(result) == ["/etc/group docker members = alice, bob"]


def test_refused_paths_are_unknown_for_permission_and_do_not_hide_a_failure(
    bad_access: HostAccess,
) -> None:
    """GIVEN /etc/sysconfig (mode 0700, root) and one registry's directory the SSH user may
    not enter
    THEN the rules on /etc/sysconfig/docker are unknown with cause permission_denied, while
    the registry rule still fails on the registry it could read."""
    assert "/etc/sysconfig/docker" in bad_access.denied
    assert "/etc/docker/certs.d/locked.example/*" in bad_access.denied
    results = verdicts(bad_access)
    for rule_id in (
        "DMN-FILE-SYSCONFIG-DOCKER-MODE",
        "DMN-FILE-SYSCONFIG-DOCKER-OWNER",
        "DMN-AUDIT-SYSCONFIG-DOCKER",
    ):
        assert results[rule_id].outcome is UNKNOWN, rule_id
        assert results[rule_id].cause is Cause.PERMISSION_DENIED, rule_id
    assert results["DMN-FILE-REGISTRY-CERTS-OWNER"].outcome is FAIL


def test_no_proc_in_the_chroot_leaves_the_mount_table_unknown(bad_access: HostAccess) -> None:
    assert bad_access.commands["processes"] == "unavailable"
    result = verdicts(bad_access)["DMN-DATA-PARTITION"]
    assert result.outcome is UNKNOWN and "/proc" in result.reason


def test_the_good_host_passes(good_access: HostAccess) -> None:
    results = verdicts(good_access)
    assert good_access.commands["collection"] == "complete" and not good_access.denied
    undecided = {i: r.outcome for i, r in results.items() if r.outcome is not PASS}
    assert undecided == {
        "DMN-DATA-PARTITION": UNKNOWN,  # no /proc in the chroot
        "DMN-HOST-HARDENED": MANUAL,
        "DMN-AUDIT-CONTAINERD-SHIM": NA,
        "DMN-AUDIT-SHIM-RUNC-V1": NA,
        "DMN-AUDIT-SYSCONFIG-DOCKER": NA,
        "DMN-FILE-SYSCONFIG-DOCKER-MODE": NA,
        "DMN-FILE-SYSCONFIG-DOCKER-OWNER": NA,
    }
    assert shown(results["DMN-FILE-TLS-KEY-MODE"]) == [
        "stat /etc/docker/tls/server-key.pem = owner=root:root mode=0400"
    ]
    assert shown(results["DMN-FILE-DOCKER-SOCK-OWNER"]) == [
        "stat /var/run/docker.sock = owner=root:docker mode=0660"
    ]
    assert shown(results["DMN-TCP-TLS"]) == [
        "/etc/docker/daemon.json hosts = tcp://0.0.0.0:2376",
        "/etc/docker/daemon.json tlsverify = true",
    ]


@pytest.mark.parametrize("rule", HOST_RULES, ids=lambda r: r.id)
def test_without_ssh_every_host_rule_is_unknown_no_ssh(rule: Rule) -> None:
    result = rule.check(HostFacts(version={}, info={}, host=None))
    assert (result.outcome, result.cause) == (UNKNOWN, Cause.NO_SSH)


def test_every_round_of_a_collection_runs_in_one_shell(
    good_host: HostRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each channel costs the host a login shell: the follow-up rounds (paths named by the
    daemon's configuration) are written to the first round's shell, not to new ones."""
    import paramiko

    from scans import hostaccess

    opened = []
    open_session = paramiko.Transport.open_session
    rounds = []
    build = hostaccess.build_script

    def counting(self: paramiko.Transport, *args: object, **kwargs: object) -> object:
        opened.append(1)
        return open_session(self, *args, **kwargs)

    monkeypatch.setattr(paramiko.Transport, "open_session", counting)
    monkeypatch.setattr(hostaccess, "build_script", lambda plan: rounds.append(1) or build(plan))
    from tests.scans.hostaccess.conftest import collected

    access = collected(good_host)
    assert access.commands[hostaccess.COLLECTION] == "complete"
    assert len(rounds) >= 2
    assert len(opened) == 1

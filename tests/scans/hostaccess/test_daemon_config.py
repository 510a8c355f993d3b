"""How the host rules read the daemon's configuration, audit rules and mount table from a
HostAccess: plain data, no SSH."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from rules import REGISTRY, Outcome
from rules.base import Cause, Result
from rules.facts import FileStat, HostAccess, HostFacts
from rules.host import parse_mountinfo
from rules.host_access import DAEMON_JSON, PROCESSES
from rules.host_audit import parse_audit_rules
from rules.host_dockerd import DaemonConfig, daemon_config, parse_flags
from tests.strategies import FUZZ

UNIT = "/lib/systemd/system/docker.service"
HOST_RULES = [r for r in REGISTRY.values() if r.check.__module__.startswith("rules.host")]


def facts(access: HostAccess, root: str = "/var/lib/docker") -> HostFacts:
    return HostFacts(version={}, info={"DockerRootDir": root}, host=access)


def with_process(*argv: str, pid: int = 812, config: str | None = "{}") -> HostAccess:
    access = HostAccess(commands={PROCESSES: "ok", f"dockerd {pid}": "\0".join(argv) + "\0"})
    if config is not None:
        access.texts[DAEMON_JSON] = config
        access.files[DAEMON_JSON] = FileStat(DAEMON_JSON, True, "file", "root", "root", 0o644)
    return access


def check(rule_id: str, access: HostAccess, root: str = "/var/lib/docker") -> Result:
    return REGISTRY[rule_id].check(facts(access, root))


def test_flags_in_every_spelling_dockerd_accepts() -> None:
    flags = parse_flags(
        ["-H", "tcp://0.0.0.0:2375", "-Hunix:///s.sock", "--host=fd://", "--icc=false", "-D"]
        + ["--tlsverify", "--log-level", "warn", "--userland-proxy", "stray", "-l=error"]
    )
    assert flags["host"] == ["tcp://0.0.0.0:2375", "unix:///s.sock", "fd://"]
    assert flags["icc"] == ["false"] and flags["debug"] == ["true"]
    assert flags["tlsverify"] == ["true"] and flags["userland-proxy"] == ["true"]
    assert flags["log-level"] == ["warn", "error"]


def test_a_tcp_listener_on_the_command_line_without_tlsverify_is_critical() -> None:
    result = check("DMN-TCP-TLS", with_process("dockerd", "-H", "tcp://0.0.0.0:2375"))
    assert result.outcome is Outcome.FAIL
    assert [str(e) for e in result.evidence] == [
        "/proc/812/cmdline --host = tcp://0.0.0.0:2375",
        "--tlsverify / daemon.json tlsverify = not set (false)",
    ]
    assert REGISTRY["DMN-TCP-TLS"].owasp == (1,)


def test_tls_without_verify_is_no_client_authentication() -> None:
    access = with_process("dockerd", config='{"hosts": ["tcp://:2376"], "tls": true}')
    assert check("DMN-TCP-TLS", access).outcome is Outcome.FAIL


def test_the_scanned_daemon_is_the_one_with_the_api_data_root() -> None:
    """GIVEN two dockerd processes WHEN /info names the data-root of the second
    THEN its command line and --config-file are the ones read."""
    access = with_process("dockerd", "--iptables=false", pid=10)
    access.commands["dockerd 20"] = "dockerd\0--data-root=/srv/docker\0--config-file=/srv/d.json"
    access.texts["/srv/d.json"] = '{"log-level": "debug"}'

    first, second = check("DMN-IPTABLES", access), check("DMN-LOG-LEVEL", access, "/srv/docker")

    assert str(first.evidence[0]) == "/proc/10/cmdline --iptables = false"
    assert str(second.evidence[0]) == "/srv/d.json log-level = debug"
    ambiguous = check("DMN-IPTABLES", access, "/elsewhere")
    assert ambiguous.outcome is Outcome.UNKNOWN and "2 dockerd processes" in ambiguous.reason


def test_without_proc_the_unit_execstart_and_its_environment_file_stand_in() -> None:
    access = HostAccess(commands={PROCESSES: "unavailable"})
    access.files[UNIT] = FileStat(UNIT, True, "file", "root", "root", 0o644)
    access.texts[UNIT] = "[Service]\nExecStart=/usr/bin/dockerd -H fd:// $DOCKER_OPTS\n"
    access.texts["/etc/default/docker"] = 'DOCKER_OPTS="--icc=false --log-level=debug"\n'
    for path in ("/etc/sysconfig/docker", DAEMON_JSON, *(d + "/docker.service" for d in (
        "/etc/systemd/system", "/usr/lib/systemd/system"))):  # fmt: skip
        access.files[path] = FileStat(path, exists=False)
    config = daemon_config(facts(access))
    assert isinstance(config, DaemonConfig) and config.flags_source == f"{UNIT} ExecStart"
    assert check("DMN-ICC-CONFIG", access).outcome is Outcome.PASS
    assert (
        str(check("DMN-LOG-LEVEL", access).evidence[0]) == f"{UNIT} ExecStart --log-level = debug"
    )


def test_a_setting_is_decided_from_one_source_and_unknown_only_when_it_could_hide() -> None:
    """daemon.json refused, command line known: a flag decides; an unset flag does not."""
    access = with_process("dockerd", "--no-new-privileges", config=None)
    access.denied.add(DAEMON_JSON)
    assert check("DMN-NNP-CONFIG", access).outcome is Outcome.PASS
    hidden = check("DMN-USERLAND-PROXY", access)
    assert hidden.outcome is Outcome.UNKNOWN and hidden.cause is Cause.PERMISSION_DENIED


def test_audit_rules_in_both_syntaxes_and_never_rules_ignored() -> None:
    watches = parse_audit_rules(
        "# comment\n-w /usr/bin/dockerd -p rwxa -k docker\n"
        "-a always,exit -S all -F path=/etc/docker/daemon.json -F perm=wa -F key=docker\n"
        "-a exit,never -F dir=/var/lib/docker/overlay2\n"
        "-a always,exit -F dir=/var/lib/docker -F perm=war -k docker\n"
    )
    assert [(w.path, w.recursive) for w in watches] == [
        ("/usr/bin/dockerd", True),
        ("/etc/docker/daemon.json", False),
        ("/var/lib/docker", True),
    ]
    assert watches[2].covers("/var/lib/docker/volumes") and not watches[1].covers("/etc/docker")


def test_loaded_audit_rules_decide_when_auditctl_answers() -> None:
    access = with_process("/usr/sbin/dockerd")
    access.commands["auditctl -l"] = "-w /usr/sbin/dockerd -p rwxa -k docker\n"
    access.files["/usr/sbin/dockerd"] = FileStat("/usr/sbin/dockerd", True, "file", "root", "root")
    result = check("DMN-AUDIT-DOCKERD", access)
    assert result.outcome is Outcome.PASS
    assert (
        str(result.evidence[0])
        == "auditctl -l: /usr/sbin/dockerd = -w /usr/sbin/dockerd -p rwxa -k docker"
    )
    access.commands.pop("auditctl -l")
    access.denied.add("auditctl -l")
    assert check("DMN-AUDIT-DOCKERD", access).cause is Cause.PERMISSION_DENIED


def test_a_separate_partition_is_told_from_dockerd_bind_mounting_its_data_root() -> None:
    table = (
        "22 1 254:0 / / rw - ext4 /dev/vda rw\n"
        "40 22 254:0 /var/lib/docker /var/lib/docker rw - ext4 /dev/vda rw\n"
        "41 22 254:16 / /srv/docker rw shared:5 - xfs /dev/vdb rw\n"
        "42 22 254:0 / /srv/space\\040dir rw - ext4 /dev/vda rw\n"
    )
    assert parse_mountinfo(table)[3].point == "/srv/space dir"
    access = with_process("dockerd")
    access.texts["/proc/self/mountinfo"] = table
    bound = check("DMN-DATA-PARTITION", access)
    assert bound.outcome is Outcome.FAIL
    assert str(bound.evidence[0]) == (
        "mount at /var/lib/docker = bind mount of /var/lib/docker on /dev/vda (ext4)"
    )
    own = check("DMN-DATA-PARTITION", access, "/srv/docker")
    assert (
        own.outcome is Outcome.PASS
        and str(own.evidence[0]) == "mount at /srv/docker = /dev/vdb (xfs)"
    )
    assert check("DMN-DATA-PARTITION", access, "/srv/space dir").outcome is Outcome.FAIL


def test_incomplete_collection_is_named_in_the_unknown_reason() -> None:
    access = HostAccess(
        commands={"collection": "incomplete: the host stopped answering (timed out)"}
    )
    result = check("DMN-FILE-ETC-DOCKER-MODE", access)
    assert result.outcome is Outcome.UNKNOWN and result.cause is Cause.DATA_MISSING
    assert "timed out" in result.reason


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=6,
)
SETTINGS = ["hosts", "tls", "tlsverify", "tlscacert", "log-level", "debug", "icc", "bridge"]
SETTINGS += ["default-ulimits", "userland-proxy", "data-root", "group", "containerd"]


@settings(FUZZ, max_examples=150)
@given(
    config=st.dictionaries(st.sampled_from(SETTINGS), json_values),
    argv=st.lists(st.text(max_size=20), max_size=6),
    unit=st.text(max_size=80),
    groups=st.text(max_size=60),
    mounts=st.text(max_size=120),
)
def test_hostile_host_data_never_crashes_a_host_rule(
    config: dict, argv: list[str], unit: str, groups: str, mounts: str
) -> None:
    with_proc = with_process("dockerd", *argv, config=json.dumps(config))
    without = HostAccess(commands={PROCESSES: "unavailable"})
    without.texts.update({UNIT: unit, DAEMON_JSON: json.dumps(config), "/etc/group": groups})
    without.files[UNIT] = FileStat(UNIT, True, "file", "root", "root", 0o644)
    with_proc.texts.update({"/proc/self/mountinfo": mounts, "/etc/group": groups})
    for access in (with_proc, without):
        for rule in HOST_RULES:
            assert isinstance(rule.check(facts(access)), Result)

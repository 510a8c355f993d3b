"""DMN-NO-NEW-PRIVILEGES-API on an Engine whose /info does not report the setting (before
25): decided from the daemon's command line and daemon.json when the host's files were
read (SSH or locally), still unknown with what to check when they were not."""

from __future__ import annotations

from rules import REGISTRY, Outcome
from rules.facts import FileStat, HostAccess, HostFacts
from rules.host_access import DAEMON_JSON, PROCESSES

OLD_ENGINE = {"Version": "20.10.24+dfsg1"}
INFO = {"DockerRootDir": "/var/lib/docker", "SecurityOptions": ["name=seccomp,profile=builtin"]}


def facts(*argv: str, config: str = "{}", read: bool = True) -> HostFacts:
    h = HostFacts(version=OLD_ENGINE, info=INFO)
    if read:
        h.host = HostAccess(
            commands={PROCESSES: "ok", "dockerd 812": "\0".join(argv) + "\0"},
            texts={DAEMON_JSON: config},
            files={DAEMON_JSON: FileStat(DAEMON_JSON, True, "file", "root", "root", 0o644)},
            via="local",
        )
    return h


def check(h: HostFacts) -> Outcome:
    return REGISTRY["DMN-NO-NEW-PRIVILEGES-API"].check(h).outcome


def test_the_command_line_flag_passes() -> None:
    assert check(facts("/usr/bin/dockerd", "--no-new-privileges")) is Outcome.PASS


def test_daemon_json_passes() -> None:
    assert check(facts("/usr/bin/dockerd", config='{"no-new-privileges": true}')) is Outcome.PASS


def test_neither_fails_by_the_default() -> None:
    assert check(facts("/usr/bin/dockerd")) is Outcome.FAIL


def test_without_the_hosts_files_it_stays_unknown() -> None:
    result = REGISTRY["DMN-NO-NEW-PRIVILEGES-API"].check(facts(read=False))

    assert result.outcome is Outcome.UNKNOWN
    assert "check daemon.json or the dockerd command line" in result.reason

"""contrib/ssh/posture-ssh-gate run as sshd runs it (SSH_ORIGINAL_COMMAND, stdin), no sshd.

The gate must pass every round scans.hostaccess writes and nothing else; the same gate
behind a real sshd is test_ssh_restricted.py.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from lab.ssh_gate import GATE, expected_sums, gate_sums
from scans import hostaccess

FIRST = hostaccess.build_script(hostaccess.base_plan())
FOLLOW = hostaccess.build_script(
    hostaccess.Plan(stats=["/etc/docker", "/tmp/a dir;$(id)"], reads=["/etc/hostname"])
)


def gate(command: str, stdin: str = "", *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {"PATH": os.environ["PATH"], "SSH_ORIGINAL_COMMAND": command, "USER": "posture"}
    return subprocess.run(
        [str(GATE), *args], input=stdin.encode(), capture_output=True, env=env, timeout=30
    )


def test_the_gate_holds_the_sums_of_the_script_posture_sends() -> None:
    assert gate_sums() == expected_sums(), (
        "scans.hostaccess changed its script: paste `python -m lab.ssh_gate` into the gate"
    )


def test_the_gate_is_executable() -> None:
    assert os.access(GATE, os.X_OK)


def test_posture_s_rounds_run() -> None:
    result = gate("/bin/sh -s", FIRST + FOLLOW)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"POSTURE-HOST 1\n")
    assert result.stdout.count(b"\nEND\n") == 2
    assert b"uid=" not in result.stdout  # the odd path was quoted, so only stat'ed


def test_a_path_with_a_single_quote_is_refused_a_documented_limit() -> None:
    odd = hostaccess.build_script(hostaccess.Plan(stats=["/etc/it's"]))
    result = gate("/bin/sh -s", FIRST + odd)

    assert result.stdout.count(b"\nEND\n") == 1
    assert b"refused" in result.stderr


@pytest.mark.parametrize(
    ("change", "into"),
    [
        ("st /etc/docker\n", "st /etc/docker; id\n"),
        ("st /etc/docker\n", "st /etc/docker $(id)\n"),
        ("st /etc/docker\n", "st `id`\n"),
        ("st /etc/docker\n", "id\n"),
        ("st /etc/docker\n", "st '/etc/docker' '/etc'\n"),
        ("st /etc/docker\n", "st /etc/*\n"),
        ("rd /etc/hostname 65536\n", "rd /etc/hostname 99999999\n"),
        ("echo END\n", "id\necho END\n"),
        ("exec 2>/dev/null\n", "exec 2>/dev/null\nid\n"),
        ("hx() {", "hx() { id;"),
    ],
)
def test_a_round_that_is_not_posture_s_never_runs(change: str, into: str) -> None:
    """GIVEN a first round Posture sends, then a second one with one line changed
    WHEN the gate reads them
    THEN the first runs and not one line of the second: the session ends, refused."""
    assert change in FOLLOW
    result = gate("/bin/sh -s", FIRST + FOLLOW.replace(change, into, 1))

    assert result.stdout.count(b"\nEND\n") == 1
    assert b"uid=" not in result.stdout
    assert b"refused" in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        "",
        "id",
        "sh",
        "/bin/sh",
        "/bin/sh -s; id",
        "/bin/sh -c id",
        "docker ps",
        "docker run --privileged -v /:/host alpine",
        "docker -H unix:///run/containerd/containerd.sock system dial-stdio",
        "docker system dial-stdio; id",
        "scp -t /root/.ssh/authorized_keys",
        "internal-sftp",
    ],
)
def test_every_other_command_is_refused(command: str) -> None:
    result = gate(command, "id\n", "--socket", "/var/run/docker.sock")

    assert result.returncode == 126
    assert b"posture-ssh-gate: refused" in result.stderr
    assert b"uid=" not in result.stdout


def test_a_misconfigured_gate_refuses_rather_than_guess() -> None:
    for args in (("--socket",), ("--socket", "relative.sock"), ("--socket", "/a;b"), ("-x",)):
        result = gate("docker system dial-stdio", "", *args)
        assert result.returncode == 126, args

"""The SSH recipe of docs/LEAST_PRIVILEGE.md against the lab's real sshd and dockerd.

Posture's key is forced through contrib/ssh/posture-ssh-gate with `restrict`: a whole scan
(Engine API over dial-stdio, host checks over `/bin/sh -s`) gives the same findings as
with an unrestricted key, while a shell, `ssh host id`, a PTY and every forwarding are
refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import paramiko
import pytest

from findings.models import Finding, HostPosture
from hosts.models import Host
from lab.daemon import LabDaemon
from lab.process import running
from lab.ssh_gate import GATE
from lab.sshd import LabSshd
from rules.host_access import COLLECTION
from scans import services
from scans.hostaccess import collect_host
from scans.models import ScanRun
from scans.transports import Limits
from scans.transports.base import Deadline
from scans.transports.ssh import open_streamlocal

pytestmark = [pytest.mark.django_db, pytest.mark.docker, pytest.mark.ssh]
LIMITS = Limits(deadline=60, connect_timeout=5, read_timeout=20, pool_size=2)


def recipe(daemon: LabDaemon) -> str:
    return f'restrict,command="{GATE} --socket {daemon.socket_path}"'


@pytest.fixture(scope="module")
def gated_sshd(lab_daemon: LabDaemon) -> Iterator[LabSshd]:
    with running(LabSshd("test-ssh-gate", authorized_options=recipe(lab_daemon))) as sshd:
        yield sshd


@pytest.fixture
def gated(gated_sshd: LabSshd) -> Iterator[paramiko.SSHClient]:
    client = gated_sshd.connect()
    yield client
    client.close()


def ssh_host(sshd: LabSshd, daemon: LabDaemon, name: str) -> Host:
    host = Host(
        name=name,
        endpoint=f"{sshd.ssh_url}?socket={daemon.socket_path}",
        ssh_host_key=sshd.known_hosts_line,
    )
    host.set_ssh_private_key(sshd.client_private_key)
    host.save()
    return host


def scanned(host: Host) -> tuple[dict[str, Any], set[tuple[str, str, str]]]:
    run, _ = services.request_scan(host, enqueue=False)
    run = services.run_scan(run.pk, LIMITS)
    assert run.status == ScanRun.Status.SUCCEEDED, run.error_detail
    findings = {
        (f.rule_id, f.subject_key, repr(f.evidence))
        for f in Finding.objects.open().filter(host=host)
    }
    return HostPosture.objects.get(host=host).rule_summary, findings


def test_a_scan_through_the_gate_finds_what_an_unrestricted_key_finds(
    lab_daemon: LabDaemon, lab_sshd: LabSshd, gated_sshd: LabSshd
) -> None:
    open_summary, open_findings = scanned(ssh_host(lab_sshd, lab_daemon, "unrestricted"))
    gated_summary, gated_findings = scanned(ssh_host(gated_sshd, lab_daemon, "gated"))

    assert gated_summary == open_summary
    assert gated_findings == open_findings
    assert not [r for r, s in gated_summary.items() if s.get("causes", {}).get("no_ssh")]


def test_the_host_checks_complete_through_the_gate(gated: paramiko.SSHClient) -> None:
    access = collect_host(gated, Deadline(30))

    assert access.commands[COLLECTION] == "complete"
    assert access.files


def run(client: paramiko.SSHClient, command: str | None, pty: bool = False) -> tuple[int, bytes]:
    transport = client.get_transport()
    assert transport is not None
    channel = transport.open_session(timeout=10)
    channel.settimeout(10)
    if pty:
        channel.get_pty()
    if command is None:
        channel.invoke_shell()
        channel.sendall(b"id\nexit\n")
    else:
        channel.exec_command(command)
    output = b""
    while chunk := channel.recv(4096):
        output += chunk
    while channel.recv_stderr_ready():
        output += channel.recv_stderr(4096)
    return channel.recv_exit_status(), output


@pytest.mark.parametrize(
    "command",
    [None, "id", "sh -c id", "docker ps", "/bin/sh -s -c id", "docker system info"],
    ids=["shell", "id", "sh-c", "docker-ps", "sh-s-c", "docker-info"],
)
def test_a_shell_or_any_other_command_is_refused(
    gated: paramiko.SSHClient, command: str | None
) -> None:
    status, output = run(gated, command)

    assert status == 126
    assert b"posture-ssh-gate: refused" in output
    assert b"uid=" not in output


def test_a_pty_is_refused(gated: paramiko.SSHClient) -> None:
    with pytest.raises(paramiko.SSHException):
        run(gated, "id", pty=True)


def test_tcp_forwarding_is_refused(gated: paramiko.SSHClient, lab_daemon: LabDaemon) -> None:
    transport = gated.get_transport()
    assert transport is not None and lab_daemon.tcp_port
    with pytest.raises(paramiko.ChannelException):
        transport.open_channel(
            "direct-tcpip", ("127.0.0.1", lab_daemon.tcp_port), ("127.0.0.1", 0), timeout=10
        )


def test_socket_forwarding_is_refused_the_api_goes_through_the_gate(
    gated: paramiko.SSHClient, lab_daemon: LabDaemon
) -> None:
    transport = gated.get_transport()
    assert transport is not None
    with pytest.raises(paramiko.ChannelException):
        open_streamlocal(transport, str(lab_daemon.socket_path), 10)


# Why the recipe gives up socket forwarding (docs/LEAST_PRIVILEGE.md): OpenSSH cannot
# allow it while refusing TCP forwarding. `AllowTcpForwarding no` turns off both, and a
# `permitopen` list (host:port only) matches no socket path, so it refuses every socket.


@pytest.mark.parametrize(
    ("name", "options", "config"),
    [
        ("test-ssh-fwd-cfg", "restrict,port-forwarding,", ["AllowTcpForwarding no"]),
        ("test-ssh-fwd-open", 'restrict,port-forwarding,permitopen="127.0.0.1:9",', []),
    ],
)
def test_openssh_cannot_forward_sockets_without_forwarding_tcp(
    lab_daemon: LabDaemon, name: str, options: str, config: list[str]
) -> None:
    command = recipe(lab_daemon).removeprefix("restrict,")
    sshd = LabSshd(name, authorized_options=options + command, extra_config=config)
    with running(sshd):
        client = sshd.connect()
        try:
            transport = client.get_transport()
            assert transport is not None and lab_daemon.tcp_port
            with pytest.raises(paramiko.ChannelException):
                open_streamlocal(transport, str(lab_daemon.socket_path), 10)
            with pytest.raises(paramiko.ChannelException):
                transport.open_channel(
                    "direct-tcpip", ("127.0.0.1", lab_daemon.tcp_port), ("127.0.0.1", 0)
                )
        finally:
            client.close()

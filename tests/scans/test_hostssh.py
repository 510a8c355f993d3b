"""A tcp:// (mutual TLS) host with separate SSH access for the host checks (scans.hostssh):
the lab TLS dockerd scanned over TLS, its host read over the lab sshd, for real."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from findings.models import HostPosture
from hosts.credentials import Credentials
from hosts.endpoints import parse_ssh_access
from hosts.models import Host
from lab.daemon import LabDaemon
from lab.pki import Pki
from lab.sshd import LabSshd
from rules import REGISTRY
from rules.base import Source
from rules.facts import HostAccess
from rules.host_access import COLLECTION
from scans import hostssh, services
from scans.models import ScanRun
from scans.transports import Limits
from scans.transports.base import Deadline

pytestmark = [pytest.mark.django_db, pytest.mark.docker, pytest.mark.ssh]
LIMITS = Limits(deadline=30, connect_timeout=5, read_timeout=10, pool_size=2)
SSH_RULES = sorted(r.id for r in REGISTRY.values() if r.source is Source.SSH)


def tls_host(daemon: LabDaemon, pki: Pki, sshd: LabSshd, host_key: str, name: str) -> Host:
    host = Host(
        name=name,
        endpoint=daemon.tcp_url,
        tls_ca_cert=pki.pem("ca_cert"),
        tls_client_cert=pki.pem("client_cert"),
        ssh_access=sshd.ssh_url.removeprefix("ssh://"),
        ssh_access_host_key=host_key,
    )
    host.set_tls_client_key(pki.pem("client_key"))
    host.set_ssh_access_key(sshd.client_private_key)
    host.save()
    return host


def scan(host: Host) -> tuple[ScanRun, dict]:
    run, _ = services.request_scan(host, enqueue=False)
    run = services.run_scan(run.pk, LIMITS)
    assert run.status == ScanRun.Status.SUCCEEDED, run.error_detail
    return run, HostPosture.objects.get(host=host).rule_summary


def test_a_tls_host_with_ssh_access_gets_its_host_rules_assessed(
    lab_daemon: LabDaemon, lab_pki: Pki, lab_sshd: LabSshd
) -> None:
    """GIVEN the lab daemon reached over tcp:// (mutual TLS), with SSH access to its host
    WHEN it is scanned
    THEN the API is read over TLS and the host rules are decided from the host over SSH:
    the running dockerd's command line and its files."""
    host = tls_host(lab_daemon, lab_pki, lab_sshd, lab_sshd.host_public_key, "tls-with-ssh")

    run, summary = scan(host)

    assert run.host_access == ScanRun.HostAccess.SSH
    assert not [i for i in SSH_RULES if summary[i]["causes"].get("no_ssh")]
    assert not [i for i in SSH_RULES if summary[i]["causes"].get("data_missing")]
    assert summary["DMN-IPTABLES"]["fail"] == 1
    assert summary["DMN-TCP-TLS"]["pass"] == 1
    assert summary["DMN-FILE-DAEMON-JSON-MODE"]["pass"] == 1


def test_a_wrong_pinned_key_leaves_the_host_rules_unassessed_not_the_scan_failed(
    lab_daemon: LabDaemon, lab_pki: Pki, lab_sshd: LabSshd
) -> None:
    """GIVEN a TLS host whose SSH access pins another host key
    WHEN it is scanned
    THEN the scan succeeds with its API verdicts, and every host rule is not assessed with
    the classified reason (host key mismatch), none passed or failed."""
    other = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    host = tls_host(lab_daemon, lab_pki, lab_sshd, other, "tls-wrong-key")

    run, summary = scan(host)

    live_restore = summary["DMN-LIVE-RESTORE"]  # an API rule, decided as before
    assert live_restore["pass"] + live_restore["fail"] == 1
    for rule_id in SSH_RULES:
        entry = summary[rule_id]
        if entry.get("not_applicable"):
            continue
        assert entry["pass"] == entry["fail"] == 0, rule_id
    entry = summary["DMN-FILE-SERVICE-MODE"]
    assert entry["causes"] == {"data_missing": 1}
    assert "SSH host key mismatch" in entry["reasons"][0]
    assert "SSH access for host checks failed" in entry["reasons"][0]
    # ...and the host page's "Host checks" line says so once, not "read over SSH".
    assert run.host_access == "ssh"
    assert "SSH host key mismatch" in run.host_access_note


def _access(sshd: LabSshd, root: str, daemon_id: str) -> HostAccess:
    endpoint = parse_ssh_access(sshd.ssh_url)
    creds = Credentials(ssh_private_key=sshd.client_private_key, ssh_host_key=sshd.host_public_key)
    info = {"DockerRootDir": root, "ID": daemon_id}
    return hostssh.collect_via_access(endpoint, creds, info, Deadline(20), 5)


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        (None, "data-root /nonexistent/posture-docker does not exist"),
        ("ANOTHER:DAEMON", "engine-id names another daemon"),
    ],
)
def test_ssh_access_to_another_machine_is_not_taken_for_the_daemons_host(
    lab_sshd: LabSshd, tmp_path: Path, written: str | None, reason: str
) -> None:
    """GIVEN SSH access that reaches a machine without the daemon's data-root, or whose
    engine-id names another daemon
    WHEN the host is collected over it
    THEN nothing is collected, and the reason says it is not this daemon's host."""
    root = "/nonexistent/posture-docker"
    if written is not None:
        (tmp_path / "engine-id").write_text(written + "\n")
        root = str(tmp_path)

    access = _access(lab_sshd, root, "THIS:DAEMON")

    note = access.commands[COLLECTION]
    assert reason in note and "not this daemon's host" in note, note
    assert not access.files and not access.texts


def test_ssh_access_to_the_daemons_own_host_is_collected(lab_sshd: LabSshd, tmp_path: Path) -> None:
    (tmp_path / "engine-id").write_text("THIS:DAEMON\n")

    access = _access(lab_sshd, str(tmp_path), "THIS:DAEMON")

    assert access.commands[COLLECTION] == "complete"
    assert access.files

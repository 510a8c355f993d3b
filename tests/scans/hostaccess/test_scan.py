"""A whole scan (scans.services.run_scan) of the lab daemon: over ssh:// the host rules are
assessed from the real host (over unix:// they are read on this machine:
tests/scans/test_host_local.py); and a host collection that goes wrong never costs the API
scan."""

from __future__ import annotations

import pytest

from findings.models import Finding, HostPosture
from hosts.models import Host
from lab.daemon import LabDaemon
from lab.sshd import LabSshd
from rules import REGISTRY
from rules.base import Source
from scans import hostaccess, services
from scans.models import ScanRun
from scans.transports import Limits

pytestmark = [pytest.mark.django_db, pytest.mark.docker]
LIMITS = Limits(deadline=30, connect_timeout=5, read_timeout=10, pool_size=2)
SSH_RULES = sorted(r.id for r in REGISTRY.values() if r.source is Source.SSH)


def ssh_host(sshd: LabSshd, daemon: LabDaemon, name: str = "over-ssh") -> Host:
    host = Host(
        name=name,
        endpoint=f"{sshd.ssh_url}?socket={daemon.socket_path}",
        ssh_host_key=sshd.known_hosts_line,
    )
    host.set_ssh_private_key(sshd.client_private_key)
    host.save()
    return host


def scan(host: Host) -> tuple[ScanRun, dict]:
    run, _ = services.request_scan(host, enqueue=False)
    run = services.run_scan(run.pk, LIMITS)
    assert run.status == ScanRun.Status.SUCCEEDED, run.error_detail
    return run, HostPosture.objects.get(host=host).rule_summary


@pytest.mark.ssh
def test_an_ssh_scan_assesses_the_host_rules(lab_daemon: LabDaemon, lab_sshd: LabSshd) -> None:
    """GIVEN the lab daemon reached over ssh:// (root on this Debian host)
    WHEN it is scanned
    THEN the host rules are decided from the host: its running dockerd's command line
    (--iptables=false, a TLS-verified TCP port) and its files."""
    host = ssh_host(lab_sshd, lab_daemon)

    _, summary = scan(host)

    assert not [i for i in SSH_RULES if summary[i]["causes"].get("no_ssh")]
    assert summary["DMN-IPTABLES"]["fail"] == 1
    assert summary["DMN-TCP-TLS"]["pass"] == 1
    assert summary["DMN-FILE-DAEMON-JSON-MODE"]["pass"] == 1
    finding = Finding.objects.open().get(host=host, rule_id="DMN-IPTABLES")
    (evidence,) = finding.evidence
    assert evidence["field"].startswith("/proc/") and evidence["field"].endswith("--iptables")
    assert evidence["value"] == "false"


@pytest.mark.ssh
@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        # Which is noticed first, the missing header or the exit status, depends on timing.
        ("script", ("exited with status 3", "did not run the collection script")),
        ("cap", ("byte cap",)),
    ],
)
def test_a_failed_host_collection_degrades_to_unknown(
    lab_daemon: LabDaemon,
    lab_sshd: LabSshd,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
    reason: tuple[str, ...],
) -> None:
    """GIVEN a host shell that answers garbage, or a host answer over the size cap
    WHEN the host is scanned over SSH
    THEN the scan succeeds with its API findings, and host rules whose facts are missing
    are unknown (data missing) with the collector's reason."""
    if fault == "script":
        monkeypatch.setattr(hostaccess, "build_script", lambda plan: "echo hello; exit 3\n")
    else:
        # Cut within the first stats (a record is ~20 bytes), before the units'.
        monkeypatch.setattr(hostaccess, "TOTAL_CAP", 120)
    host = ssh_host(lab_sshd, lab_daemon, name=f"broken-{fault}")

    _, summary = scan(host)

    live_restore = summary["DMN-LIVE-RESTORE"]  # an API rule, decided as before
    assert live_restore["pass"] + live_restore["fail"] == 1
    entry = summary["DMN-FILE-SERVICE-MODE"]
    assert entry["causes"] == {"data_missing": 1}
    assert any(r in entry["reasons"][0] for r in reason)
    assert "incomplete" in entry["reasons"][0]

"""Host-level checks of a unix:// daemon that runs on the worker's own machine, without SSH.

GIVEN the suite's lab dockerd (a real daemon on this machine, its socket, data-root and
config under /tmp/pst-test) scanned over unix://
WHEN the scan runs
THEN the host rules are decided from this machine's files and the lab dockerd's own command
line (read locally, said so on the run), while a socket that merely forwards to the daemon
(a proxy: another process listens) keeps "not reachable over SSH" with the reason.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from findings.models import Finding, HostPosture
from hosts.models import Host
from lab.daemon import LabDaemon
from lab.relay import pump
from rules import REGISTRY
from rules.base import Source
from scans import hostlocal, services
from scans.models import ScanRun
from scans.transports import Limits
from scans.transports.base import Deadline

pytestmark = [pytest.mark.django_db, pytest.mark.docker]
LIMITS = Limits(deadline=30, connect_timeout=5, read_timeout=10, pool_size=2)
SSH_RULES = sorted(r.id for r in REGISTRY.values() if r.source is Source.SSH)


def scan(host: Host) -> tuple[ScanRun, dict]:
    run, _ = services.request_scan(host, enqueue=False)
    run = services.run_scan(run.pk, LIMITS)
    assert run.status == ScanRun.Status.SUCCEEDED, run.error_detail
    return run, HostPosture.objects.get(host=host).rule_summary


def test_a_local_unix_daemon_gets_its_host_rules_read_locally(lab_daemon: LabDaemon) -> None:
    host = Host.objects.create(name="local", endpoint=lab_daemon.unix_url)

    run, summary = scan(host)

    assert run.host_access == ScanRun.HostAccess.LOCAL
    assert run.host_access_note == ""
    assert not [i for i in SSH_RULES if summary[i]["causes"].get("no_ssh")]
    # Decided from the lab dockerd's own command line, found in this machine's /proc by
    # its data-root: --iptables=false and a TLS-verified TCP port.
    assert summary["DMN-IPTABLES"]["fail"] == 1
    assert summary["DMN-TCP-TLS"]["pass"] == 1
    finding = Finding.objects.open().get(host=host, rule_id="DMN-IPTABLES")
    (evidence,) = finding.evidence
    assert evidence["field"].startswith("/proc/") and evidence["field"].endswith("--iptables")


@pytest.fixture
def forwarder(lab_daemon: LabDaemon, tmp_path: Path) -> Iterator[str]:
    """A unix socket that relays to the lab daemon's: what ssh -L or a socket proxy is."""
    path = str(tmp_path / "relay.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(8)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(str(lab_daemon.socket_path))
            threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=pump, args=(upstream, client), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path
    stop.set()
    server.close()
    os.unlink(path)


def test_a_forwarded_socket_is_not_read_as_this_machine(
    lab_daemon: LabDaemon, forwarder: str
) -> None:
    host = Host.objects.create(name="relayed", endpoint=f"unix://{forwarder}")

    run, summary = scan(host)

    assert run.host_access == ScanRun.HostAccess.NONE
    assert "not dockerd" in run.host_access_note
    for rule_id in SSH_RULES:
        assert summary[rule_id]["causes"] == {"no_ssh": 1}, rule_id
    reason = summary["DMN-FILE-SERVICE-MODE"]["reasons"][0]
    assert "not reachable over SSH" in reason and "not read locally" in reason


def test_a_daemon_whose_data_root_is_elsewhere_is_not_local(lab_daemon: LabDaemon) -> None:
    info = {"DockerRootDir": "/nonexistent/docker", "ID": "x"}
    why = hostlocal.local_daemon(str(lab_daemon.socket_path), info)
    assert "data-root /nonexistent/docker is not on the worker's machine" in why
    assert hostlocal.local_daemon("/nonexistent.sock", info).startswith("the socket")


def test_an_engine_id_naming_another_daemon_is_not_local(
    lab_daemon: LabDaemon, tmp_path: Path
) -> None:
    (tmp_path / "engine-id").write_text("ANOTHER-DAEMON\n")
    info = {"DockerRootDir": str(tmp_path), "ID": "THIS-DAEMON"}
    assert "names another daemon" in hostlocal.local_daemon(str(lab_daemon.socket_path), info)
    info["ID"] = "ANOTHER-DAEMON"
    assert hostlocal.local_daemon(str(lab_daemon.socket_path), info) == ""


def test_the_local_collection_follows_the_daemons_paths(lab_daemon: LabDaemon) -> None:
    info = lab_daemon.info()
    found = hostlocal.collect_local(str(lab_daemon.socket_path), info, Deadline(20))
    assert not isinstance(found, str), found
    assert found.via == "local"
    assert found.commands["collection"] == "complete"
    # Round two stat'ed the data-root the daemon reported, not /var/lib/docker.
    assert found.files[str(info["DockerRootDir"])].kind == "directory"
    assert str(lab_daemon.root / "daemon.json") in found.files

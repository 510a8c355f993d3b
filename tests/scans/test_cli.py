"""manage.py host add|list|remove and scan --wait, as an operator or a CI job uses them."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from hosts.models import Host
from lab.daemon import LabDaemon
from lab.pki import Pki
from lab.sshd import LabSshd
from scans.models import ScanRun

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.docker
def test_add_scan_json_list_remove(lab_daemon: LabDaemon, lab_samples: dict[str, str]) -> None:
    assert "added lab" in run(
        "host",
        "add",
        "lab",
        lab_daemon.unix_url,
        "--label",
        "env=ci",
        "--owner",
        "ops@example.org",
        "--interval",
        "5",
    )
    report = json.loads(run("scan", "lab", "--wait", "--format", "json"))
    assert report["host"] == "lab"
    assert report["scan"]["status"] == "succeeded"
    assert isinstance(report["score"], int)
    privileged = [f for f in report["findings"] if f["rule_id"] == "CTR-PRIVILEGED"]
    assert [f["subject"]["name"] for f in privileged] == ["lab-privileged"]
    assert privileged[0]["evidence"] == [{"field": "HostConfig.Privileged", "value": "true"}]
    listing = json.loads(run("host", "list", "--format", "json"))
    assert listing[0]["name"] == "lab" and listing[0]["labels"] == {"env": "ci"}
    text = run("scan", "lab", "--wait")
    assert "lab: score" in text and "CTR-PRIVILEGED" in text
    assert "removed lab" in run("host", "remove", "lab")
    assert not Host.objects.exists()


@pytest.mark.docker
def test_add_tls_and_ssh_hosts_from_files(
    lab_daemon: LabDaemon, lab_pki: Pki, lab_sshd: LabSshd, tmp_path: Path
) -> None:
    run(
        "host",
        "add",
        "tls",
        lab_daemon.tcp_url,
        "--ca",
        str(lab_pki.ca_cert),
        "--cert",
        str(lab_pki.client_cert),
        "--key",
        str(lab_pki.client_key),
    )
    key = tmp_path / "id"
    key.write_text(lab_sshd.client_private_key)
    run(
        "host",
        "add",
        "ssh",
        f"{lab_sshd.ssh_url}?socket={lab_daemon.socket_path}",
        "--ssh-key",
        str(key),
        "--host-key",
        lab_sshd.known_hosts_line,
    )
    for name in ("tls", "ssh"):
        report = json.loads(run("scan", name, "--wait", "--format", "json"))
        assert report["scan"]["status"] == "succeeded", report["scan"]
    stored = Host.objects.get(name="ssh")
    assert stored.ssh_host_key == lab_sshd.known_hosts_line
    assert lab_sshd.client_private_key.strip() not in stored.ssh_private_key_enc


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bad", "http://127.0.0.1:2375"), "Plain http:// is refused"),
        (("bad", "tcp://127.0.0.1:2376"), "need --ca, --cert and --key"),
        (("bad", "ssh://root@127.0.0.1:22"), "host key is pinned"),
        (("bad", "unix:///x.sock", "--label", "novalue"), "key=value"),
        (("b d", "unix:///x.sock"), "name"),
    ],
)
def test_add_refuses_bad_input_clearly(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(CommandError) as info:
        run("host", "add", *args)
    assert message in str(info.value)
    assert not Host.objects.exists()


def test_failed_scan_exits_2_and_explains() -> None:
    Host.objects.create(name="gone", endpoint="unix:///tmp/pst-nothing.sock")
    out = StringIO()
    with pytest.raises(SystemExit) as info:
        call_command("scan", "gone", "--wait", stdout=out, stderr=StringIO())
    assert info.value.code == 2
    assert "Host unreachable" in out.getvalue()
    assert ScanRun.objects.get().error_class == "unreachable"


def test_scan_unknown_host() -> None:
    with pytest.raises(CommandError, match="no host named"):
        run("scan", "nope", "--wait")

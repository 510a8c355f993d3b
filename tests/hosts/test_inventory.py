"""manage.py host import / export: a 50-host inventory imported, re-imported without a write,
changed, pruned; invalid entries named and nothing applied; keys by reference only."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from hosts.models import Host
from tests.factories import Pem, SshPem, make_ssh_pem, make_tls_pem

pytestmark = pytest.mark.django_db
WRITES = ("INSERT", "UPDATE", "DELETE")


def run(*args: str) -> str:
    out = StringIO()
    call_command("host", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def writes(queries: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith(WRITES)
    ]


def keyfiles(tmp_path: Path) -> tuple[Pem, SshPem]:
    tls, ssh = make_tls_pem(), make_ssh_pem()
    (tmp_path / "ca.pem").write_text(tls.ca_cert)
    (tmp_path / "cert.pem").write_text(tls.client_cert)
    (tmp_path / "key.pem").write_text(tls.client_key)
    (tmp_path / "ssh_key").write_text(ssh.private_key)
    return tls, ssh


def fleet(ssh: SshPem, count: int = 50) -> list[dict[str, Any]]:
    """Two thirds mutual TLS, one third SSH, on loopback addresses (no name to resolve)."""
    hosts: list[dict[str, Any]] = []
    for n in range(count):
        host: dict[str, Any] = {
            "name": f"web{n:02d}",
            "labels": {"env": "prod" if n % 2 else "staging", "team": f"t{n % 3}"},
            "owner": "ops@example.org",
            "interval": 30,
        }
        if n % 3:
            host["endpoint"] = f"tcp://127.0.1.{n + 1}:2376"
            host["tls"] = {"ca": "file:ca.pem", "cert": "file:cert.pem", "key": "file:key.pem"}
        else:
            host["endpoint"] = f"ssh://deploy@127.0.2.{n + 1}:22"
            host["ssh_key"] = "file:ssh_key"
            host["host_key"] = ssh.host_key
        hosts.append(host)
    return hosts


def write(tmp_path: Path, hosts: list[dict[str, Any]], name: str = "fleet.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"hosts": hosts}, sort_keys=False))
    return str(path)


def test_fifty_hosts_imported_reimported_without_a_write_changed_and_pruned(tmp_path: Path) -> None:
    """GIVEN a 50-host inventory with keys in files
    WHEN it is imported, imported again, edited, and imported with --prune
    THEN 50 hosts are created with sealed keys; the second import writes nothing; the edit
    shows as a diff (dry run first, writing nothing) then applies; pruning removes only what
    the file no longer lists, and only with the flag."""
    tls, ssh = keyfiles(tmp_path)
    hosts = fleet(ssh)
    path = write(tmp_path, hosts)

    out = run("import", path)
    assert out.strip().endswith("50 created, 0 changed, 0 unchanged")
    assert Host.objects.count() == 50
    web01 = Host.objects.get(name="web01")
    assert web01.labels == {"env": "prod", "team": "t1"} and web01.scan_interval == 30
    assert web01.tls_client_key_enc and tls.client_key not in web01.tls_client_key_enc
    assert set(web01.key_fingerprints) == {"tls_client_key"}
    assert Host.objects.get(name="web00").has_ssh_private_key
    assert AuditEvent.objects.filter(action="host.created", source="cli").count() == 50
    stamps = dict(Host.objects.values_list("name", "updated_at"))

    with CaptureQueriesContext(connection) as queries:
        out = run("import", path)
    assert out.strip() == "0 created, 0 changed, 50 unchanged"
    assert writes(queries) == []
    assert dict(Host.objects.values_list("name", "updated_at")) == stamps

    other = make_tls_pem()
    (tmp_path / "key2.pem").write_text(other.client_key)
    (tmp_path / "cert2.pem").write_text(other.client_cert)
    hosts[1]["labels"]["env"] = "canary"
    hosts[2]["tls"] = {"ca": "file:ca.pem", "cert": "file:cert2.pem", "key": "file:key2.pem"}
    hosts[3]["enabled"] = False
    write(tmp_path, hosts)
    with CaptureQueriesContext(connection) as queries:
        out = run("import", path, "--dry-run")
    assert writes(queries) == []
    assert "~ web01\n    labels: {env=prod, team=t1} → {env=canary, team=t1}" in out
    assert "~ web02" in out and "tls_client_key: (replaced) → (replaced)" in out
    assert "~ web03\n    enabled: True → False" in out
    assert out.strip().endswith("0 created, 3 changed, 47 unchanged (dry run: nothing written)")
    assert other.client_key not in out and tls.client_key not in out
    assert Host.objects.get(name="web01").labels["env"] == "prod"

    run("import", path)
    assert Host.objects.get(name="web01").labels["env"] == "canary"
    assert not Host.objects.get(name="web03").enabled
    replaced = AuditEvent.objects.get(action="host.credentials_replaced", target_repr="web02")
    assert replaced.details["replaced"] == ["tls_client_key"]
    updated = AuditEvent.objects.get(action="host.updated", target_repr="web01")
    assert updated.changes["labels"][1]["env"] == "canary"

    write(tmp_path, hosts[:45])
    assert "0 created, 0 changed, 45 unchanged" in run("import", path)
    assert Host.objects.count() == 50  # listed or not, nothing goes without --prune
    out = run("import", path, "--prune", "--dry-run")
    assert [line for line in out.splitlines() if line.startswith("-")] == [
        f"- web{n}" for n in range(45, 50)
    ]
    assert Host.objects.count() == 50
    assert "5 removed" in run("import", path, "--prune")
    with pytest.raises(CommandError, match="lists no host: --prune would remove them all"):
        run("import", write(tmp_path, []), "--prune")
    assert Host.objects.count() == 45
    assert AuditEvent.objects.filter(action="host.deleted").count() == 5


def test_invalid_entries_are_named_and_nothing_is_applied(tmp_path: Path) -> None:
    tls, ssh = keyfiles(tmp_path)
    hosts = fleet(ssh, 4)
    hosts += [
        {"name": "plain", "endpoint": "http://127.0.0.9:2375"},
        {
            "name": "metadata",
            "endpoint": "tcp://169.254.169.254:2376",
            "tls": dict(hosts[1]["tls"]),
        },
        {"name": "nokey", "endpoint": "tcp://127.0.0.10:2376", "tls": {"ca": "file:ca.pem"}},
        {"name": "badlabel", "endpoint": "unix:///var/run/docker.sock", "labels": "env"},
        {
            "name": "missing",
            "endpoint": "ssh://u@127.0.0.11",
            "ssh_key": "file:nope",
            "host_key": ssh.host_key,
        },
        {"name": "web01", "endpoint": "unix:///var/run/docker.sock"},
    ]
    path = write(tmp_path, hosts)
    with pytest.raises(CommandError) as caught:
        run("import", path)
    message = str(caught.value)
    assert message.startswith("inventory refused, nothing applied:")
    for expected in (
        "line 42, plain: endpoint: Plain http:// is refused",
        "metadata: endpoint:",
        "cloud metadata",
        "nokey: tls.cert: A tcp:// endpoint needs a client certificate",
        "nokey: tls.key: A tcp:// endpoint needs the client certificate's private key.",
        "badlabel: labels: Write each label as key=value",
        "missing: ssh_key: nope is not a file.",
        "web01: the name is listed twice.",
    ):
        assert expected in message, (expected, message)
    assert not Host.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_key_is_taken_by_reference_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tls, ssh = keyfiles(tmp_path)
    inline = {
        "name": "inline",
        "endpoint": "tcp://127.0.0.5:2376",
        "tls": {"ca": "file:ca.pem", "cert": "file:cert.pem", "key": tls.client_key},
    }
    path = write(tmp_path, [inline])
    with pytest.raises(CommandError) as caught:
        run("import", path)
    assert "tls.key: a key is never written in the inventory" in str(caught.value)
    assert "PRIVATE KEY" not in str(caught.value)

    monkeypatch.setenv("POSTURE_TEST_DOCKER_KEY", tls.client_key)
    inline["tls"]["key"] = "env:POSTURE_TEST_DOCKER_KEY"
    write(tmp_path, [inline])
    assert "1 created" in run("import", path)
    assert Host.objects.get(name="inline").has_tls_client_key


def test_a_key_sealed_elsewhere_is_replaced_once_never_taken_for_unchanged(tmp_path: Path) -> None:
    """The host form seals a key without recording its fingerprint: the next import cannot
    prove the stored key is the file's, so it seals the file's again (once)."""
    tls, ssh = keyfiles(tmp_path)
    path = write(tmp_path, fleet(ssh, 2))
    run("import", path)
    host = Host.objects.get(name="web01")
    host.set_tls_client_key(make_tls_pem().client_key)  # as the form's save() does
    host.save()
    out = run("import", path)
    assert "~ web01\n    tls_client_key: (replaced) → (replaced)" in out
    assert "0 created, 0 changed, 2 unchanged" in run("import", path)


def test_export_round_trips_in_yaml_and_csv(tmp_path: Path) -> None:
    tls, ssh = keyfiles(tmp_path)
    hosts = fleet(ssh, 6)
    hosts[1]["ssh_access"] = {
        "address": "posture@127.0.3.1:22",
        "host_key": ssh.host_key,
        "key": "file:ssh_key",
    }
    hosts[2]["image_scan"] = "deep"
    run("import", write(tmp_path, hosts))
    for fmt in ("yaml", "csv"):
        exported = run("export", "--format", fmt)
        assert "PRIVATE KEY" not in exported and tls.client_key not in exported
        path = tmp_path / f"export.{fmt}"
        path.write_text(exported)
        with CaptureQueriesContext(connection) as queries:
            out = run("import", str(path))
        assert out.strip() == "0 created, 0 changed, 6 unchanged", (fmt, out)
        assert writes(queries) == [e for e in writes(queries) if "audit" in e]
    assert AuditEvent.objects.filter(action="host.inventory_exported").count() == 2
    host = Host.objects.get(name="web01")
    assert host.ssh_access == "posture@127.0.3.1:22" and host.has_ssh_access_key


def test_csv_inventory(tmp_path: Path) -> None:
    tls, ssh = keyfiles(tmp_path)
    (tmp_path / "hosts.csv").write_text(
        "name,endpoint,labels,owner,interval,enabled,tls_ca,tls_cert,tls_key\n"
        'a1,tcp://127.0.0.21:2376,"env=prod, team=pay",a@example.org,20,yes,'
        "file:ca.pem,file:cert.pem,file:key.pem\n"
        "a2,unix:///var/run/docker.sock,,,,no,,,\n"
        "a3,tcp://127.0.0.23:2376,,,often,,file:ca.pem,file:cert.pem,\n"
    )
    with pytest.raises(CommandError) as caught:
        run("import", str(tmp_path / "hosts.csv"))
    assert "line 4, a3: interval: a number of minutes, not 'often'." in str(caught.value)
    text = (
        (tmp_path / "hosts.csv")
        .read_text()
        .replace("often,,file:ca.pem,file:cert.pem,", "5,,file:ca.pem,file:cert.pem,file:key.pem")
    )
    (tmp_path / "hosts.csv").write_text(text)
    assert "3 created" in run("import", str(tmp_path / "hosts.csv"))
    a1 = Host.objects.get(name="a1")
    assert a1.labels == {"env": "prod", "team": "pay"} and a1.scan_interval == 20
    assert not Host.objects.get(name="a2").enabled

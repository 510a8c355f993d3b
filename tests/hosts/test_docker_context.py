"""manage.py host import --docker-context / --docker-env: contexts made by the real docker CLI
against the lab daemon's TLS endpoint, imported and scanned; hostile archives refused."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from findings.models import HostPosture
from hosts.dockercontext import ContextError, read_archive
from hosts.models import Host
from lab.daemon import LabDaemon
from lab.pki import Pki
from scans import services
from scans.models import ScanRun
from scans.transports import Limits
from tests.factories import make_tls_pem

pytestmark = pytest.mark.django_db
LIMITS = Limits(deadline=30, connect_timeout=5, read_timeout=10, pool_size=2)


def run(*args: str) -> str:
    out = StringIO()
    call_command("host", "import", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def docker(config: Path, *args: str, cwd: Path | None = None) -> None:
    """The docker CLI on its own config directory: it only writes files here (no daemon)."""
    subprocess.run(
        ["docker", "--config", str(config), *args],
        check=True,
        capture_output=True,
        cwd=cwd,
        timeout=30,
    )


@pytest.mark.docker
def test_a_context_made_by_docker_is_imported_and_scanned_over_tls(
    lab_daemon: LabDaemon, lab_pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN `docker context create` for the lab daemon's mutual-TLS endpoint, and its
    `docker context export` archive
    WHEN each is imported (by name from the contexts store, and as the archive)
    THEN the hosts carry the context's CA, certificate and sealed key, a second import
    changes nothing, and a real scan over that TLS material succeeds."""
    config = tmp_path / "docker"
    tls = f"ca={lab_pki.ca_cert},cert={lab_pki.client_cert},key={lab_pki.client_key}"
    docker(config, "context", "create", "lab-tls", "--docker", f"host={lab_daemon.tcp_url},{tls}")
    docker(config, "context", "export", "lab-tls", str(tmp_path / "lab.dockercontext"))
    monkeypatch.setenv("DOCKER_CONFIG", str(config))

    assert "1 created" in run("--docker-context", "lab-tls", "--label", "env=lab")
    by_name = Host.objects.get(name="lab-tls")
    assert by_name.endpoint == lab_daemon.tcp_url and by_name.labels == {"env": "lab"}
    assert by_name.tls_ca_cert == lab_pki.pem("ca_cert")
    assert by_name.tls_client_cert == lab_pki.pem("client_cert")
    assert by_name.has_tls_client_key
    out = run("--docker-context", str(tmp_path / "lab.dockercontext"), "--name", "lab-archive")
    assert "1 created" in out
    again = run("--docker-context", str(tmp_path / "lab.dockercontext"), "--name", "lab-archive")
    assert again.strip() == "0 created, 0 changed, 1 unchanged"

    scan, _ = services.request_scan(Host.objects.get(name="lab-archive"), enqueue=False)
    scan = services.run_scan(scan.pk, LIMITS)
    assert scan.status == ScanRun.Status.SUCCEEDED, scan.error_detail
    assert HostPosture.objects.get(host__name="lab-archive").score is not None


def test_the_docker_environment_is_imported_with_verification_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pem = make_tls_pem()
    for name, text in (
        ("ca.pem", pem.ca_cert),
        ("cert.pem", pem.client_cert),
        ("key.pem", pem.client_key),
    ):
        (tmp_path / name).write_text(text)
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.31:2376")
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    monkeypatch.setenv("DOCKER_CERT_PATH", str(tmp_path))
    with pytest.raises(CommandError, match="DOCKER_TLS_VERIFY is not set"):
        run("--docker-env", "--name", "from-env")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    assert "1 created" in run("--docker-env", "--name", "from-env")
    host = Host.objects.get(name="from-env")
    assert host.endpoint == "tcp://127.0.0.31:2376" and host.has_tls_client_key
    assert host.tls_ca_cert == pem.ca_cert


def test_a_context_that_skips_tls_verification_is_refused(tmp_path: Path) -> None:
    meta = {
        "Name": "x",
        "Endpoints": {"docker": {"Host": "tcp://127.0.0.1:2376", "SkipTLSVerify": True}},
    }
    path = archive(tmp_path, [("meta.json", json.dumps(meta).encode())])
    with pytest.raises(ContextError, match="skips TLS verification"):
        read_archive(path)


META = json.dumps({"Name": "x", "Endpoints": {"docker": {"Host": "tcp://127.0.0.1:2376"}}}).encode()


def archive(
    tmp_path: Path, members: list[tuple[Any, bytes]], name: str = "x.dockercontext"
) -> Path:
    """A tar built member by member; a member is a name or a ready TarInfo."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for member, data in members:
            info = member if isinstance(member, tarfile.TarInfo) else tarfile.TarInfo(member)
            if info.isreg():
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    path = tmp_path / name
    path.write_bytes(buffer.getvalue())
    return path


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


@pytest.mark.parametrize(
    ("members", "why"),
    [
        ([("meta.json", META), ("../../etc/cron.d/x", b"x")], "outside the archive"),
        ([("/etc/passwd", b"x"), ("meta.json", META)], "outside the archive"),
        ([("meta.json", META), ("tls/docker/../../../key.pem", b"x")], "outside the archive"),
        (
            [
                ("meta.json", META),
                (_link("tls/docker/key.pem", "/root/.ssh/id_rsa", tarfile.SYMTYPE), b""),
            ],
            "does not",
        ),
        (
            [("meta.json", META), (_link("tls/docker/ca.pem", "meta.json", tarfile.LNKTYPE), b"")],
            "does not",
        ),
        (
            [("meta.json", META), ("tls/docker/key.pem", b"k" * (64 * 1024 + 1))],
            "larger than 64 KiB",
        ),
        ([("meta.json", META), ("tls/docker/evil.sh", b"x")], "does not"),
        ([("meta.json", META), ("meta.json", META)], "twice"),
        ([("tls/docker/ca.pem", b"x")], "no meta.json"),
        ([("meta.json", b"\xff\xfe")], "not text"),
    ],
    ids=[
        "traversal",
        "absolute",
        "dotdot-inside",
        "symlink",
        "hardlink",
        "huge-member",
        "unexpected",
        "duplicate",
        "no-meta",
        "binary-meta",
    ],
)
def test_a_hostile_archive_is_refused(
    tmp_path: Path, members: list[tuple[Any, bytes]], why: str
) -> None:
    with pytest.raises(ContextError, match=why):
        read_archive(archive(tmp_path, members))


def test_a_huge_or_compressed_archive_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "big.dockercontext"
    big.write_bytes(b"\0" * (1024 * 1024 + 1))
    with pytest.raises(ContextError, match="larger than 1 MiB"):
        read_archive(big)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("meta.json")
        info.size = len(META)
        tar.addfile(info, io.BytesIO(META))
    gz = tmp_path / "gz.dockercontext"
    gz.write_bytes(buffer.getvalue())
    with pytest.raises(ContextError, match="not a Docker context export"):
        read_archive(gz)

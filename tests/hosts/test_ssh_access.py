"""A tcp:// host's SSH access for host checks: one spelling of its address, and the
command line's --ssh-access (the form's rules: tests/fleet/test_host_forms_ssh_access.py)."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from hosts.endpoints import format_ssh_access, parse_ssh_access
from hosts.models import Host
from tests.factories import make_ssh_pem, make_tls_pem


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("posture@docker1.example.org", "posture@docker1.example.org:22"),
        ("ssh://posture@docker1.example.org:2222", "posture@docker1.example.org:2222"),
        ("  ops@10.0.0.5:22 ", "ops@10.0.0.5:22"),
        ("ops@[2001:db8::1]:22", "ops@[2001:db8::1]:22"),
    ],
)
def test_one_spelling_of_the_address(typed: str, stored: str) -> None:
    assert format_ssh_access(parse_ssh_access(typed)) == stored
    assert format_ssh_access(parse_ssh_access(stored)) == stored


@pytest.mark.parametrize(
    "typed", ["docker1.example.org", "u:pw@h.example.org", "u@h.example.org?socket=/x.sock", "u@"]
)
def test_bad_addresses_are_refused(typed: str) -> None:
    with pytest.raises(ValidationError):
        parse_ssh_access(typed)


def _files(tmp_path: Path) -> dict[str, str]:
    tls, ssh = make_tls_pem(), make_ssh_pem()
    paths = {}
    for name, text in (
        ("ca", tls.ca_cert),
        ("cert", tls.client_cert),
        ("key", tls.client_key),
        ("ssh", ssh.private_key),
    ):
        (tmp_path / name).write_text(text)
        paths[name] = str(tmp_path / name)
    paths["host_key"] = ssh.host_key
    return paths


def add(files: dict[str, str], *extra: str, endpoint: str = "tcp://d1.example.org:2376") -> None:
    call_command(
        "host",
        "add",
        "d1",
        endpoint,
        "--ca",
        files["ca"],
        "--cert",
        files["cert"],
        "--key",
        files["key"],
        *extra,
        stdout=StringIO(),
    )


@pytest.mark.django_db
def test_the_command_line_gives_a_tls_host_ssh_access(tmp_path: Path) -> None:
    files = _files(tmp_path)

    add(
        files,
        "--ssh-access",
        "posture@d1.example.org",
        "--ssh-key",
        files["ssh"],
        "--host-key",
        files["host_key"],
    )

    host = Host.objects.get(name="d1")
    assert host.ssh_access == "posture@d1.example.org:22"
    assert host.ssh_access_host_key == files["host_key"]
    assert host.ssh_access_credentials().ssh_private_key == Path(files["ssh"]).read_text()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--ssh-access", "posture@d1.example.org"), "needs --ssh-key and --host-key"),
        (("--ssh-access", "d1.example.org"), "--ssh-access: An SSH endpoint needs a user"),
        (("--ssh-access", "u@169.254.169.254"), "metadata"),
    ],
)
def test_the_command_line_refuses_incomplete_access(
    tmp_path: Path, extra: tuple[str, ...], message: str
) -> None:
    with pytest.raises(CommandError) as info:
        add(_files(tmp_path), *extra)
    assert message in str(info.value)
    assert not Host.objects.exists()


@pytest.mark.django_db
def test_the_command_line_keeps_ssh_access_to_tcp_hosts(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="tcp:// hosts only"):
        add(_files(tmp_path), "--ssh-access", "u@h.example.org", endpoint="unix:///x.sock")

"""manage.py rotate_keys: every stored secret re-sealed under the current key, in place."""

from __future__ import annotations

import ast
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEvent
from hosts.credentials import sealed_fields
from hosts.models import Host
from posture.lib import crypto
from tests.factories import HostFactory
from tests.hosts.test_decrypt_points import modules

pytestmark = pytest.mark.django_db


def keys(settings: Any, *privates: str) -> None:
    settings.CREDENTIALS_PUBLIC_KEY = ""
    settings.CREDENTIALS_PRIVATE_KEYS = list(privates)


def run(*args: str) -> tuple[str, int]:
    out = StringIO()
    try:
        call_command("rotate_keys", *args, stdout=out, stderr=out)
    except SystemExit as exc:
        return out.getvalue(), int(exc.code or 0)
    return out.getvalue(), 0


@pytest.fixture
def old_and_new(settings: Any) -> tuple[str, str]:
    return crypto.generate_pair()[0], crypto.generate_pair()[0]


def test_every_sealed_field_is_found() -> None:
    found = {m._meta.label: names for m, names in sealed_fields()}
    assert found == {
        "hosts.Host": ["tls_client_key_enc", "ssh_private_key_enc", "ssh_access_key_enc"],
        "alerts.Subscription": ["target_enc", "signing_secret_enc"],
    }


def sealed_into() -> set[str]:
    """Names given a value made by crypto.encrypt anywhere in the code: `x.name = encrypt(…)`,
    `a, x.name = encrypt(…), …`, or `name=encrypt(…)` in a call."""

    def seals(node: ast.AST) -> bool:
        return any(
            isinstance(n, ast.Call)
            and (n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", ""))
            == "encrypt"
            for n in ast.walk(node)
        )

    def name(target: ast.expr) -> str:
        return target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "?")

    names = set()
    for path, tree in modules():
        if path in {"posture/lib/crypto.py", "hosts/credentials.py"}:  # the tools themselves
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                        pairs = zip(target.elts, node.value.elts, strict=False)
                        names |= {f"{path}:{name(t)}" for t, v in pairs if seals(v)}
                    elif seals(node.value):
                        names.add(f"{path}:{name(target)}")
            elif isinstance(node, ast.Call):
                names |= {f"{path}:{k.arg}" for k in node.keywords if k.arg and seals(k.value)}
    return names


def test_whatever_the_code_seals_is_in_a_field_rotation_finds() -> None:
    """A secret sealed into a field not named *_enc would be left under the old key by
    rotate_keys, and lost when that key is removed (the alert channels, issue 13)."""
    stored = {name for _, names in sealed_fields() for name in names}
    sealed = sealed_into()
    assert "alerts/forms.py:target_enc" in sealed  # the scan does see the channels' form
    assert {s for s in sealed if s.rpartition(":")[2] not in stored} == set()


def test_rotation_reseals_old_and_fernet_secrets_and_is_idempotent(
    settings: Any, old_and_new: tuple[str, str]
) -> None:
    """GIVEN hosts sealed under an old key and one stored as a Fernet token before sealed
    boxes, WHEN the new key goes first and rotate_keys runs, THEN every secret is under the
    new key, opens unchanged, survives the old keys' retirement, and a second run does nothing.
    """
    old, new = old_and_new
    settings.ENCRYPTION_KEYS = ["legacy"]
    keys(settings, old)
    tls_host, tls = HostFactory.with_tls_credentials(name="tls-1")
    ssh_host, ssh = HostFactory.with_ssh_credentials(name="ssh-1")
    legacy = crypto._fernet(("legacy",))
    assert legacy is not None
    Host.objects.filter(pk=ssh_host.pk).update(
        ssh_private_key_enc=legacy.encrypt(ssh.private_key.encode()).decode()
    )
    updated_at = Host.objects.get(pk=tls_host.pk).updated_at
    keys(settings, new, old)

    listing, status = run("--check")
    assert status == 1 and "2 secret(s) not under the current key" in listing
    assert "hosts.host" in listing and "(ssh-1) ssh_private_key_enc: Fernet" in listing
    assert "(tls-1) tls_client_key_enc: old key" in listing

    output, status = run("--batch-size", "1")
    assert status == 0 and output.startswith("2 re-sealed, 0 already under key")
    settings.ENCRYPTION_KEYS = []
    keys(settings, new)  # the old keys retired
    assert Host.objects.get(pk=tls_host.pk).credentials().client_key == tls.client_key
    assert Host.objects.get(pk=ssh_host.pk).credentials().ssh_private_key == ssh.private_key
    assert Host.objects.get(pk=tls_host.pk).updated_at == updated_at  # nobody edited the host
    assert run("--check") == (f"0 secret(s) not under the current key {_kid()}\n", 0)
    assert run()[0].startswith("0 re-sealed, 2 already under key")

    events = AuditEvent.objects.filter(action="keys.rotated").order_by("pk")
    assert [(e.source, e.details["resealed"], e.details["failed"]) for e in events] == [
        ("cli", 2, 0),
        ("cli", 0, 0),
    ]


def test_a_secret_that_cannot_be_opened_is_kept_and_reported(
    settings: Any, old_and_new: tuple[str, str]
) -> None:
    lost, new = old_and_new
    keys(settings, lost)
    host, _ = HostFactory.with_ssh_credentials(name="ssh-lost")
    stored = Host.objects.get(pk=host.pk).ssh_private_key_enc
    keys(settings, new)  # the key that sealed it was retired before rotation

    output, status = run()
    assert status == 1
    assert (
        f"not re-sealed: hosts.host {host.pk} ssh_private_key_enc: stored credential is sealed"
        in output
    )
    assert "0 re-sealed, 0 already under key" in output and "1 failed" in output
    assert Host.objects.get(pk=host.pk).ssh_private_key_enc == stored  # nothing lost


def test_rotation_needs_a_private_key_and_generate_prints_a_usable_pair(settings: Any) -> None:
    private, public = crypto.generate_pair()
    settings.CREDENTIALS_PUBLIC_KEY, settings.CREDENTIALS_PRIVATE_KEYS = public, []
    with pytest.raises(CommandError, match="opened by workers only; run rotate_keys on a worker"):
        run()

    output, _ = run("--generate")
    lines = dict(line.split(": ", 1) for line in output.splitlines())
    new_private = lines["POSTURE_CREDENTIALS_PRIVATE_KEYS (first, workers only)"]
    new_public = lines["POSTURE_CREDENTIALS_PUBLIC_KEY (every process)"]
    settings.CREDENTIALS_PUBLIC_KEY, settings.CREDENTIALS_PRIVATE_KEYS = new_public, [new_private]
    assert crypto.decrypt(crypto.encrypt("x")) == "x"  # the pair matches (checked on load)
    assert not AuditEvent.objects.exists()


def _kid() -> str:
    return crypto.keyring().current_id

"""Keys are encrypted at rest: the database holds ciphertext only, and a changed key says so."""

from __future__ import annotations

import pytest
from django.db import connection

from hosts.models import Host
from posture.lib import crypto

SECRET = "-----BEGIN PRIVATE KEY-----\nTOPSECRETMATERIAL\n-----END PRIVATE KEY-----\n"


@pytest.mark.django_db
def test_private_keys_are_stored_encrypted() -> None:
    host = Host(name="h1", endpoint="ssh://ops@127.0.0.1:22", ssh_host_key="ssh-ed25519 AAAA")
    host.set_ssh_private_key(SECRET)
    host.set_tls_client_key(SECRET)
    host.save()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM hosts_host WHERE id = %s", [host.pk])
        row = " ".join(str(v) for v in cursor.fetchone())
    assert "TOPSECRETMATERIAL" not in row
    reloaded = Host.objects.get(pk=host.pk)
    assert reloaded.credentials().ssh_private_key == SECRET
    assert reloaded.credentials().client_key == SECRET
    assert "TOPSECRET" not in repr(reloaded.credentials())


@pytest.mark.django_db
def test_rotated_keys_still_decrypt(settings) -> None:
    settings.ENCRYPTION_KEYS = ["old-key"]
    token = crypto.encrypt("hello")
    settings.ENCRYPTION_KEYS = ["new-key", "old-key"]
    assert crypto.decrypt(token) == "hello"
    settings.ENCRYPTION_KEYS = ["unrelated"]
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token)

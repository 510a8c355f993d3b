"""Keys are sealed at rest: the database holds ciphertext only, which only a worker opens."""

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
def test_the_web_process_stores_keys_it_cannot_read_back(settings) -> None:
    """GIVEN a process with the public key only (web, beat), WHEN it stores a key, THEN the
    host's credentials cannot be opened there, and open in a worker holding the private key."""
    private, public = crypto.generate_pair()
    settings.CREDENTIALS_PUBLIC_KEY, settings.CREDENTIALS_PRIVATE_KEYS = public, []
    host = Host(name="h1", endpoint="ssh://ops@127.0.0.1:22", ssh_host_key="ssh-ed25519 AAAA")
    host.set_ssh_private_key(SECRET)
    host.save()

    with pytest.raises(crypto.DecryptionError, match="opened by workers only"):
        Host.objects.get(pk=host.pk).credentials()
    settings.CREDENTIALS_PUBLIC_KEY, settings.CREDENTIALS_PRIVATE_KEYS = "", [private]
    assert Host.objects.get(pk=host.pk).credentials().ssh_private_key == SECRET

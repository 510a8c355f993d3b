"""Sealed credentials: the public key seals, only a private key opens, the ciphertext says
which key sealed it, and tokens of the Fernet scheme before it still open."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from posture.lib import crypto

SECRET = "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret-material\n-----END OPENSSH PRIVATE KEY-----\n"


@pytest.fixture
def pair() -> tuple[str, str]:
    return crypto.generate_pair()


def worker(settings: Any, *privates: str) -> None:
    settings.CREDENTIALS_PUBLIC_KEY = ""
    settings.CREDENTIALS_PRIVATE_KEYS = list(privates)


def web(settings: Any, public: str) -> None:
    settings.CREDENTIALS_PUBLIC_KEY = public
    settings.CREDENTIALS_PRIVATE_KEYS = []


def test_sealed_with_the_public_key_opened_with_the_private_one(settings: Any, pair) -> None:
    private, public = pair
    web(settings, public)
    token = crypto.encrypt(SECRET)

    assert token.startswith(f"nacl1:{crypto.keyring().current_id}:")
    assert "secret-material" not in token
    assert crypto.encrypt(SECRET) != token  # an ephemeral key per seal: equal keys look unequal
    worker(settings, private)
    assert crypto.decrypt(token) == SECRET


def test_a_process_with_the_public_key_only_cannot_open(settings: Any, pair) -> None:
    private, public = pair
    web(settings, public)
    token = crypto.encrypt(SECRET)
    with pytest.raises(crypto.DecryptionError, match="opened by workers only"):
        crypto.decrypt(token)


def test_the_key_id_picks_the_private_key_and_old_keys_still_open(settings: Any) -> None:
    old_private, _ = crypto.generate_pair()
    new_private, _ = crypto.generate_pair()
    worker(settings, old_private)
    under_old = crypto.encrypt(SECRET)
    worker(settings, new_private, old_private)

    assert crypto.sealing(under_old) is crypto.Sealing.OLD
    assert crypto.decrypt(under_old) == SECRET
    assert crypto.sealing(crypto.encrypt(SECRET)) is crypto.Sealing.CURRENT
    worker(settings, new_private)  # the old key retired too early
    with pytest.raises(crypto.DecryptionError, match="not among POSTURE_CREDENTIALS_PRIVATE"):
        crypto.decrypt(under_old)


def test_fernet_tokens_from_before_still_open_where_the_legacy_keys_are(settings: Any) -> None:
    private, public = crypto.generate_pair()
    settings.ENCRYPTION_KEYS = ["old-key"]
    fernet = crypto._fernet(("old-key",))
    assert fernet is not None
    token = fernet.encrypt(SECRET.encode()).decode()
    worker(settings, private)

    assert crypto.sealing(token) is crypto.Sealing.FERNET
    assert crypto.decrypt(token) == SECRET
    settings.ENCRYPTION_KEYS = ["unrelated"]
    with pytest.raises(crypto.DecryptionError, match="POSTURE_ENCRYPTION_KEYS changed"):
        crypto.decrypt(token)
    settings.ENCRYPTION_KEYS = []
    with pytest.raises(crypto.DecryptionError, match="until `manage.py rotate_keys`"):
        crypto.decrypt(token)
    web(settings, public)
    with pytest.raises(crypto.DecryptionError, match="opened by workers only"):
        crypto.decrypt(token)


def test_a_tampered_ciphertext_is_refused(settings: Any, pair) -> None:
    private, _ = pair
    worker(settings, private)
    prefix, kid, body = crypto.encrypt(SECRET).split(":")
    flipped = bytearray(base64.b64decode(body))
    flipped[-1] ^= 1
    for token in (
        f"{prefix}:{kid}:{base64.b64encode(bytes(flipped)).decode()}",
        f"{prefix}:{kid}:not base64!",
    ):
        with pytest.raises(crypto.DecryptionError, match="corrupt"):
            crypto.decrypt(token)


@pytest.mark.parametrize(
    ("public", "privates", "message"),
    [
        ("", [], "set POSTURE_CREDENTIALS_PUBLIC_KEY"),
        ("c2hvcnQ=", [], "PUBLIC_KEY: not a base64 X25519 key"),
        ("", ["%%%"], "PRIVATE_KEYS: not a base64 X25519 key"),
        (crypto.generate_pair()[1], [crypto.generate_pair()[0]], "is not the public key of the"),
    ],
)
def test_bad_keys_stop_with_a_clear_message(settings: Any, public, privates, message) -> None:
    settings.CREDENTIALS_PUBLIC_KEY = public
    settings.CREDENTIALS_PRIVATE_KEYS = privates
    with pytest.raises(ImproperlyConfigured, match=message):
        crypto.encrypt(SECRET)


def test_keys_in_either_base64_alphabet_are_read(settings: Any) -> None:
    raw = bytes(range(32))
    standard = base64.b64encode(raw).decode()
    urlsafe = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    worker(settings, standard)
    a = crypto.keyring().current_id
    worker(settings, urlsafe)
    assert crypto.keyring().current_id == a

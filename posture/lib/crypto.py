"""Sealed credentials: a Docker API credential is root on that host.

Credentials are sealed with a public key (libsodium sealed boxes: X25519 + XSalsa20-Poly1305,
through PyNaCl) and opened with the matching private key. The web process and beat hold the
public key only: they can store a key a person types in, and cannot read back any key already
stored. Only workers (and `manage.py scan`) hold private keys, so a flaw in a page, or a web
process's memory, gives an attacker no stored credential.

A ciphertext says which key sealed it: ``nacl1:<key id>:<base64>``, the key id being a hash of
the public key. settings.CREDENTIALS_PRIVATE_KEYS may list several private keys: the first is
the current one (its public key seals), the others only open what they sealed, so keys rotate
without a flag day (`manage.py rotate_keys`).

Tokens without the prefix are Fernet tokens of the previous scheme (settings.ENCRYPTION_KEYS,
any string stretched with SHA-256): still opened, so an upgrade loses nothing, until
rotate_keys re-seals them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

PREFIX = "nacl1"
NO_PRIVATE_KEY = "this process holds no private key: credentials are opened by workers only"


class DecryptionError(Exception):
    pass


class Sealing(StrEnum):
    """Under what a stored ciphertext is sealed, as rotate_keys --check reports it."""

    CURRENT = "current"
    OLD = "old key"
    FERNET = "Fernet (before sealed boxes)"


def _decode_key(text: str, what: str) -> bytes:
    """32 raw bytes from standard or URL-safe base64, padded or not (the generated default
    is URL-safe without padding, `rotate_keys --generate` prints standard base64)."""
    raw = text.strip()
    try:
        data = base64.urlsafe_b64decode(
            raw.replace("+", "-").replace("/", "_") + "=" * (-len(raw) % 4)
        )
    except (binascii.Error, ValueError):
        data = b""
    if len(data) != 32:
        raise ImproperlyConfigured(f"{what}: not a base64 X25519 key of 32 bytes")
    return data


def key_id(public: PublicKey) -> str:
    return hashlib.sha256(bytes(public)).hexdigest()[:16]


@dataclass(frozen=True)
class Keyring:
    public: PublicKey
    private: dict[str, PrivateKey]  # by key id; empty in the web process and beat

    @property
    def current_id(self) -> str:
        return key_id(self.public)


@cache
def _keyring(public_b64: str, private_b64s: tuple[str, ...]) -> Keyring:
    privates = [
        PrivateKey(_decode_key(k, "POSTURE_CREDENTIALS_PRIVATE_KEYS")) for k in private_b64s
    ]
    by_id = {key_id(k.public_key): k for k in privates}
    if public_b64:
        public = PublicKey(_decode_key(public_b64, "POSTURE_CREDENTIALS_PUBLIC_KEY"))
        # A mismatch would seal keys that no worker can open: refuse to start sealing.
        if privates and key_id(public) != key_id(privates[0].public_key):
            raise ImproperlyConfigured(
                "POSTURE_CREDENTIALS_PUBLIC_KEY is not the public key of the first of "
                "POSTURE_CREDENTIALS_PRIVATE_KEYS (the current key goes first)"
            )
    elif privates:
        public = privates[0].public_key
    else:
        raise ImproperlyConfigured(
            "set POSTURE_CREDENTIALS_PUBLIC_KEY (web, beat) or "
            "POSTURE_CREDENTIALS_PRIVATE_KEYS (workers)"
        )
    return Keyring(public=public, private=by_id)


def keyring() -> Keyring:
    return _keyring(settings.CREDENTIALS_PUBLIC_KEY, tuple(settings.CREDENTIALS_PRIVATE_KEYS))


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet | None:
    if not keys:
        return None
    return MultiFernet(
        [Fernet(base64.urlsafe_b64encode(hashlib.sha256(k.encode()).digest())) for k in keys]
    )


def generate_pair() -> tuple[str, str]:
    """(private, public), base64, for `rotate_keys --generate`."""
    private = PrivateKey.generate()
    return (
        base64.b64encode(bytes(private)).decode(),
        base64.b64encode(bytes(private.public_key)).decode(),
    )


def encrypt(plaintext: str) -> str:
    ring = keyring()
    sealed = SealedBox(ring.public).encrypt(plaintext.encode())
    return f"{PREFIX}:{ring.current_id}:{base64.b64encode(sealed).decode()}"


def sealing(token: str) -> Sealing:
    if not token.startswith(f"{PREFIX}:"):
        return Sealing.FERNET
    kid = token.split(":", 2)[1]
    return Sealing.CURRENT if kid == keyring().current_id else Sealing.OLD


def decrypt(token: str) -> str:
    ring = keyring()
    if not token.startswith(f"{PREFIX}:"):
        return _decrypt_fernet(token, ring)
    if not ring.private:
        raise DecryptionError(NO_PRIVATE_KEY)
    _, kid, body = (token.split(":", 2) + ["", ""])[:3]
    private = ring.private.get(kid)
    if private is None:
        raise DecryptionError(
            f"stored credential is sealed under key {kid}, which is not among "
            "POSTURE_CREDENTIALS_PRIVATE_KEYS (retired before rotate_keys re-sealed it?)"
        )
    try:
        return SealedBox(private).decrypt(base64.b64decode(body, validate=True)).decode()
    except (CryptoError, binascii.Error, ValueError):
        raise DecryptionError(f"stored credential sealed under key {kid} is corrupt") from None


def _decrypt_fernet(token: str, ring: Keyring) -> str:
    fernet = _fernet(tuple(settings.ENCRYPTION_KEYS))
    if fernet is None:
        # The web process has neither kind of key; a worker lacks only the legacy one.
        raise DecryptionError(
            NO_PRIVATE_KEY
            if not ring.private
            else "stored credential predates sealed boxes: give workers POSTURE_ENCRYPTION_KEYS "
            "until `manage.py rotate_keys` has re-sealed it"
        )
    try:
        return fernet.decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "stored credential cannot be decrypted: POSTURE_ENCRYPTION_KEYS changed?"
        ) from None

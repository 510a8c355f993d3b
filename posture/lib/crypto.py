"""Encryption at rest for credentials: a Docker API credential is root on that host.

Fernet (AES-128-CBC + HMAC-SHA256) keyed from settings.ENCRYPTION_KEYS. Any string can be a
key: it is stretched with SHA-256 into Fernet's format. The first key encrypts; all keys
decrypt, so keys can be rotated by prepending a new one and re-saving (manage.py rotate_keys).
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class DecryptionError(Exception):
    pass


def _fernet_key(secret: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest())


@cache
def _cipher(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(_fernet_key(k)) for k in keys])


def cipher() -> MultiFernet:
    return _cipher(tuple(settings.ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return cipher().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return cipher().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "stored credential cannot be decrypted: POSTURE_ENCRYPTION_KEYS changed?"
        ) from None

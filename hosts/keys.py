"""Reading the key material users paste. Raises ValueError with a sentence a person reads."""

from __future__ import annotations

import base64
import binascii
import io

import paramiko
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

SSH_KEY_CLASSES: tuple[type[paramiko.PKey], ...] = (
    paramiko.Ed25519Key,
    paramiko.ECDSAKey,
    paramiko.RSAKey,
)


def load_ssh_private_key(text: str) -> paramiko.PKey:
    for cls in SSH_KEY_CLASSES:
        try:
            return cls.from_private_key(io.StringIO(text))
        except paramiko.PasswordRequiredException:
            raise ValueError(
                "The SSH private key is passphrase-protected; give an unprotected "
                "key (it is encrypted at rest by Posture)."
            ) from None
        except (paramiko.SSHException, ValueError, IndexError, TypeError):
            continue
    raise ValueError("The SSH private key could not be read (OpenSSH or PEM, ed25519/ECDSA/RSA).")


def parse_ssh_host_key(line: str) -> paramiko.PKey:
    """Accept `ssh-ed25519 AAAA...`, with or without a leading host field (ssh-keyscan form)."""
    fields = line.strip().split()
    if len(fields) >= 3 and not fields[0].startswith(("ssh-", "ecdsa-")):
        fields = fields[1:]
    if len(fields) < 2:
        raise ValueError("The host key must look like `ssh-ed25519 AAAA...`.")
    try:
        blob = base64.b64decode(fields[1], validate=True)
        return paramiko.PKey.from_type_string(fields[0], blob)
    except (binascii.Error, paramiko.SSHException, ValueError, TypeError) as exc:
        raise ValueError(f"The host key is invalid ({exc}).") from None


def check_certificates(pem: str, what: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        raise ValueError(f"The {what} is not a PEM certificate.") from None
    return certs


def check_private_key(pem: str) -> None:
    try:
        load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("The client key is not an unencrypted PEM private key.") from None

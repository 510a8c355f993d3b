"""A throwaway PKI for the lab's TLS Docker daemons: one CA, a server and a client cert.

EC P-256 keys because they are generated in milliseconds (RSA-2048 takes ~100 ms each) and
Docker's Go TLS stack accepts them. Existing files are reused while they still match the
requested names and stay valid for a day, so repeated test runs keep their certificates.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PemName = Literal["ca_cert", "ca_key", "server_cert", "server_key", "client_cert", "client_key"]

_VALIDITY = datetime.timedelta(days=365)
# Reuse only certificates that outlive any plausible test run by a wide margin.
_RENEW_BEFORE = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Pki:
    directory: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    @classmethod
    def at(cls, directory: Path) -> Pki:
        return cls(
            directory=directory,
            ca_cert=directory / "ca.pem",
            ca_key=directory / "ca-key.pem",
            server_cert=directory / "server-cert.pem",
            server_key=directory / "server-key.pem",
            client_cert=directory / "cert.pem",
            client_key=directory / "key.pem",
        )

    def pem(self, name: PemName) -> str:
        """The PEM text of one file, e.g. ``pki.pem("client_key")`` for a host's credentials."""
        path: Path = getattr(self, name)
        return path.read_text()

    @property
    def paths(self) -> tuple[Path, ...]:
        return (
            self.ca_cert,
            self.ca_key,
            self.server_cert,
            self.server_key,
            self.client_cert,
            self.client_key,
        )


def make_pki(
    directory: Path,
    name: str = "posture-lab",
    ips: Sequence[str] = ("127.0.0.1",),
    dns_names: Sequence[str] = (),
) -> Pki:
    """Create (or reuse) a CA plus a server cert for `ips`/`dns_names` and a client cert."""
    pki = Pki.at(directory)
    if _reusable(pki, ips, dns_names):
        return pki
    directory.mkdir(parents=True, exist_ok=True)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA")])
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key(), ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    sans += [x509.DNSName(dns) for dns in dns_names]
    server_cert = (
        _leaf(f"{name} server", server_key, ca_cert, ca_key, ExtendedKeyUsageOID.SERVER_AUTH)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    client_key = ec.generate_private_key(ec.SECP256R1())
    client_cert = _leaf(
        f"{name} client", client_key, ca_cert, ca_key, ExtendedKeyUsageOID.CLIENT_AUTH
    ).sign(ca_key, hashes.SHA256())

    _write_key(pki.ca_key, ca_key)
    _write_key(pki.server_key, server_key)
    _write_key(pki.client_key, client_key)
    # Certificates last: their presence is what marks the set as complete for reuse.
    for path, cert in (
        (pki.ca_cert, ca_cert),
        (pki.server_cert, server_cert),
        (pki.client_cert, client_cert),
    ):
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return pki


def make_rogue_pki(
    directory: Path, ips: Sequence[str] = ("127.0.0.1",), dns_names: Sequence[str] = ()
) -> Pki:
    """An unrelated CA with its own server and client certs, for the wrong-CA tests.

    Nothing links it to the lab's real CA, so a client pinning the real CA must refuse a
    daemon serving the rogue server cert, and a daemon must refuse the rogue client cert.
    """
    return make_pki(directory, name="posture-rogue", ips=ips, dns_names=dns_names)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    issuer_public_key: ec.EllipticCurvePublicKey,
) -> x509.CertificateBuilder:
    # Backdated a little so a clock that lags the generating process does not reject it.
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        # Python 3.13's default VERIFY_X509_STRICT requires the AKI extension.
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key),
            critical=False,
        )
    )


def _leaf(
    common_name: str,
    key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    usage: x509.ObjectIdentifier,
) -> x509.CertificateBuilder:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (
        _builder(subject, ca_cert.subject, key.public_key(), ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    # A CA signs certificates and CRLs; an ECDSA leaf signs and agrees on keys (ECDHE).
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not ca,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Created 0600 from the start: a chmod after writing would leave a readable window.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def _reusable(pki: Pki, ips: Sequence[str], dns_names: Sequence[str]) -> bool:
    if not all(path.exists() for path in pki.paths):
        return False
    try:
        certs = [
            x509.load_pem_x509_certificate(path.read_bytes())
            for path in (pki.ca_cert, pki.server_cert, pki.client_cert)
        ]
        sans = certs[1].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    horizon = datetime.datetime.now(datetime.UTC) + _RENEW_BEFORE
    if any(cert.not_valid_after_utc < horizon for cert in certs):
        return False
    wanted_ips = {ipaddress.ip_address(ip) for ip in ips}
    return wanted_ips <= set(sans.get_values_for_type(x509.IPAddress)) and set(dns_names) <= set(
        sans.get_values_for_type(x509.DNSName)
    )

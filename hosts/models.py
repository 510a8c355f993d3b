from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from hosts.credentials import Credentials
from hosts.endpoints import Endpoint, parse_endpoint, parse_ssh_access
from posture.lib import crypto

HOST_NAME = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$",
    "Use letters, digits, dots, dashes and underscores (it is used in URLs and commands).",
)


def validate_endpoint(value: str) -> None:
    parse_endpoint(value)


def default_interval() -> int:
    return int(settings.POSTURE_SCAN["DEFAULT_INTERVAL_MINUTES"])


class HostQuerySet(models.QuerySet["Host"]):
    def enabled(self) -> HostQuerySet:
        return self.filter(enabled=True)

    def due(self, now: datetime | None = None) -> HostQuerySet:
        return self.enabled().filter(next_scan_at__lte=now or timezone.now())


class Host(models.Model):
    name = models.CharField(max_length=100, unique=True, validators=[HOST_NAME])
    endpoint = models.CharField(max_length=500, validators=[validate_endpoint])
    labels = models.JSONField(default=dict, blank=True)
    owner_email = models.EmailField(blank=True)
    scan_interval = models.PositiveIntegerField(
        "scan interval (minutes)",
        default=default_interval,
        validators=[MinValueValidator(1), MaxValueValidator(7 * 24 * 60)],
    )
    enabled = models.BooleanField(default=True)
    # How this host's images are inventoried for known vulnerabilities; "" follows
    # POSTURE_IMAGE_SCAN. os: package databases read from a running container with archive
    # GETs; deep: also images without a container and language packages, from the image
    # stream; off: not at all.
    image_scan = models.CharField(
        _("image scanning"),
        max_length=8,
        blank=True,
        # A database default too: rows written by code that predates the field (an older
        # release still running during a rolling upgrade) get "default" as well.
        db_default="",
        default="",
        choices=[
            ("", _("default (POSTURE_IMAGE_SCAN)")),
            ("off", _("off")),
            ("os", _("OS packages")),
            ("deep", _("deep")),
        ],
    )
    next_scan_at = models.DateTimeField(default=timezone.now)

    # Public material, shown back to the user so they can check it.
    tls_ca_cert = models.TextField("CA certificate (PEM)", blank=True)
    tls_client_cert = models.TextField("client certificate (PEM)", blank=True)
    ssh_host_key = models.TextField("pinned SSH host public key", blank=True)
    # Secret material: sealed ciphertext only, never rendered; the web process can seal it
    # but not open it (posture.lib.crypto). A field named *_enc is re-sealed by rotate_keys.
    tls_client_key_enc = models.TextField(blank=True, editable=False)
    ssh_private_key_enc = models.TextField(blank=True, editable=False)

    # A tcp:// (mutual TLS) host's separate SSH access, for the host-level checks only (its
    # files, processes, packages); the Docker API is still read over TLS. A second
    # credential held like the first: user@host:port, its host key pinned, its key sealed.
    # db_default as for image_scan: rows an older release writes during an upgrade.
    ssh_access = models.CharField(
        "SSH access for host checks", max_length=300, blank=True, default="", db_default=""
    )
    ssh_access_host_key = models.TextField(
        "pinned host key of the SSH access", blank=True, default="", db_default=""
    )
    ssh_access_key_enc = models.TextField(blank=True, editable=False, default="", db_default="")
    # The public half of each sealed key ({"tls_client_key": "sha256:…"}), written by whoever
    # sealed it knowing it (hosts.inventory), cleared by any other setter: an inventory
    # import tells an unchanged key without opening the sealed box, which this process
    # cannot do. A missing entry means "unknown", never "unchanged".
    # db_default as for image_scan: rows an older release writes during an upgrade.
    key_fingerprints = models.JSONField(default=dict, blank=True, editable=False, db_default={})

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = HostQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        indexes = [
            # dispatch_due_scans: enabled hosts whose next_scan_at has passed.
            models.Index(fields=["enabled", "next_scan_at"], name="host_due_idx"),
            # Trends and reports scoped to a team or an env (trends.scope.Scope): the same
            # expression as the scope's filter, so that ANALYZE gathers statistics on it.
            # Without them PostgreSQL guesses 0.5 % of the fleet for `env = 'prod'` (5
            # hosts instead of 500) and plans nested loops that take seconds.
            models.Index(
                Cast(KeyTextTransform("team", "labels"), output_field=models.TextField()),
                name="host_label_team_idx",
            ),
            models.Index(
                Cast(KeyTextTransform("env", "labels"), output_field=models.TextField()),
                name="host_label_env_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def parsed_endpoint(self) -> Endpoint:
        return parse_endpoint(self.endpoint)

    @property
    def transport(self) -> str:
        return self.parsed_endpoint.transport.value

    def _forget_fingerprint(self, name: str) -> None:
        """Set by a path that does not record the key's public half: "unknown" from now on."""
        self.key_fingerprints = {
            k: v for k, v in (self.key_fingerprints or {}).items() if k != name
        }

    def set_tls_client_key(self, pem: str) -> None:
        self.tls_client_key_enc = crypto.encrypt(pem) if pem else ""
        self._forget_fingerprint("tls_client_key")

    def set_ssh_private_key(self, pem: str) -> None:
        self.ssh_private_key_enc = crypto.encrypt(pem) if pem else ""
        self._forget_fingerprint("ssh_private_key")

    def set_ssh_access_key(self, pem: str) -> None:
        self.ssh_access_key_enc = crypto.encrypt(pem) if pem else ""
        self._forget_fingerprint("ssh_access_key")

    @property
    def has_ssh_access_key(self) -> bool:
        return bool(self.ssh_access_key_enc)

    @property
    def ssh_access_endpoint(self) -> Endpoint | None:
        """Where the host checks of a tcp:// host go over SSH; None when it has no such access."""
        return parse_ssh_access(self.ssh_access) if self.ssh_access else None

    def ssh_access_credentials(self) -> Credentials:
        """The SSH access's opened key and pinned host key, for one scan (as credentials())."""
        return Credentials(
            ssh_private_key=(
                crypto.decrypt(self.ssh_access_key_enc) if self.ssh_access_key_enc else ""
            ),
            ssh_host_key=self.ssh_access_host_key,
        )

    @property
    def has_tls_client_key(self) -> bool:
        return bool(self.tls_client_key_enc)

    @property
    def has_ssh_private_key(self) -> bool:
        return bool(self.ssh_private_key_enc)

    def credentials(self) -> Credentials:
        """Decrypted credentials for one scan; kept in memory only, never stored or logged.

        The one place stored keys are opened: only processes holding a private key (workers,
        `manage.py scan`) can; elsewhere it raises crypto.DecryptionError.
        """
        return Credentials(
            ca_cert=self.tls_ca_cert,
            client_cert=self.tls_client_cert,
            client_key=crypto.decrypt(self.tls_client_key_enc) if self.tls_client_key_enc else "",
            ssh_private_key=(
                crypto.decrypt(self.ssh_private_key_enc) if self.ssh_private_key_enc else ""
            ),
            ssh_host_key=self.ssh_host_key,
        )

    @property
    def image_scan_mode(self) -> str:
        from django.conf import settings

        return self.image_scan or settings.POSTURE_IMAGE_SCAN

    def label_pairs(self) -> list[tuple[str, str]]:
        return sorted((str(k), str(v)) for k, v in (self.labels or {}).items())

    def schedule_next(self, now: datetime | None = None) -> datetime:
        return (now or timezone.now()) + timedelta(minutes=self.scan_interval)

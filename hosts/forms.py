"""The host form: endpoint, labels, and the credentials each transport needs.

Private keys are write-only: the widgets never render a value (not even after a failed
submit), a blank field keeps the stored ciphertext, and a "remove" box clears it.

The form is filled in by an account (access.services.Access), and what it accepts depends
on it: a team-scoped account adds and keeps hosts in its own teams only, unix:// endpoints
(a socket on Posture's own machine) need Perm.LOCAL_ENDPOINTS, and every new or changed
endpoint passes the target policy (hosts.targets). Whoever may edit a host must not be able
to aim its stored key at another machine: changing where the host is (endpoint) or how it
is recognised (CA certificate, pinned host key) needs the private keys entered again.
The same holds for a tcp:// host's separate SSH access (host checks only): its own
address and pinned host key go with its own key.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from access.roles import Perm
from access.scope import TEAM_LABEL
from access.services import Access
from hosts import keys, ssh_access, targets
from hosts.endpoints import Endpoint, Transport, parse_endpoint
from hosts.models import Host
from hosts.ssh_access import fingerprint as _fingerprint

if TYPE_CHECKING:  # django-stubs is a development dependency only
    from django_stubs_ext import StrOrPromise

LABEL_KEY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_./-]{0,62})$")
LABEL_VALUE_MAX = 100
MAX_LABELS = 20
PEM_MAX = 64 * 1024
# The write-only fields: named to sensitive_post_parameters by the views, never audited.
SECRET_FIELDS = ("tls_client_key", "ssh_private_key", "ssh_access_key")
# The keys of the main endpoint; the SSH access's key follows its own address (clean()).
ENDPOINT_SECRETS = ("tls_client_key", "ssh_private_key")
SECRET_NAMES = {"tls_client_key": _("the client key"), "ssh_private_key": _("the SSH private key")}


class SecretTextarea(forms.Textarea):
    """A textarea that, like PasswordInput(render_value=False), never renders its value."""

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        return super().get_context(name, None, attrs)


def parse_label(text: str) -> tuple[str, str] | None:
    """One "key=value" selector (profiles, exceptions, alert subscriptions), or None when it
    is not one; each form words its own error."""
    key, sep, value = (part.strip() for part in text.partition("="))
    if not sep or not LABEL_KEY.match(key) or not value or len(value) > LABEL_VALUE_MAX:
        return None
    return key, value


def parse_labels(text: str) -> dict[str, str]:
    """Parse "env=prod, team=payments" (commas or new lines) into a dict, or refuse it."""
    labels: dict[str, str] = {}
    for raw in re.split(r"[,\n]", text or ""):
        item = raw.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep:
            raise ValidationError(
                _("Write each label as key=value (%(item)s has no “=”)."),
                params={"item": item[:40]},
            )
        if not LABEL_KEY.match(key):
            raise ValidationError(
                _("Label key %(key)s: use up to 63 letters, digits, “_”, “.”, “/” or “-”."),
                params={"key": key[:40]},
            )
        if len(value) > LABEL_VALUE_MAX:
            raise ValidationError(
                _("Label %(key)s: the value is longer than %(max)s characters."),
                params={"key": key, "max": LABEL_VALUE_MAX},
            )
        if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value):
            raise ValidationError(
                _("Label %(key)s: the value contains control characters."), params={"key": key}
            )
        if key in labels:
            raise ValidationError(_("Label %(key)s is given twice."), params={"key": key})
        labels[key] = value
    if len(labels) > MAX_LABELS:
        raise ValidationError(_("At most %(max)s labels per host."), params={"max": MAX_LABELS})
    return labels


def format_labels(labels: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((labels or {}).items()))


def _pem(text: str) -> str:
    """Normalise pasted PEM: CRLF from Windows clipboards, stray indentation, final newline."""
    lines = [line.strip() for line in (text or "").replace("\r\n", "\n").split("\n")]
    cleaned = "\n".join(line for line in lines if line)
    return cleaned + "\n" if cleaned else ""


def _public_bytes(key: Any) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _key_matches_cert(key_pem: str, cert_pem: str) -> bool:
    cert = x509.load_pem_x509_certificates(cert_pem.encode())[0]
    key = load_pem_private_key(key_pem.encode(), password=None)
    return _public_bytes(key.public_key()) == _public_bytes(cert.public_key())


def audited(host: Host) -> dict[str, Any]:
    """What the audit trail compares before and after an edit (audit.services.diff). The
    secret fields hold ciphertext here only so that diff sees a change; diff writes
    "(replaced)" for them, never the value."""
    return {
        "name": host.name,
        "endpoint": host.endpoint,
        "labels": dict(host.labels or {}),
        "owner_email": host.owner_email,
        "scan_interval": host.scan_interval,
        "enabled": host.enabled,
        "image_scan": host.image_scan,
        "tls_ca_cert": _fingerprint(host.tls_ca_cert),
        "tls_client_cert": _fingerprint(host.tls_client_cert),
        "ssh_host_key": _fingerprint(host.ssh_host_key),
        "tls_client_key": host.tls_client_key_enc,
        "ssh_private_key": host.ssh_private_key_enc,
        "ssh_access": host.ssh_access,
        "ssh_access_host_key": _fingerprint(host.ssh_access_host_key),
        "ssh_access_key": host.ssh_access_key_enc,
    }


def _same_endpoint(before: str, after: str) -> bool:
    """Equal once parsed (tcp://h and tcp://h:2376 are one address)."""
    try:
        return parse_endpoint(before) == parse_endpoint(after)
    except ValidationError:
        return False


class HostForm(ssh_access.SshAccessMixin, forms.ModelForm):
    labels = forms.CharField(
        label=_("Labels"),
        required=False,
        max_length=2000,
        help_text=_("Comma-separated key=value pairs, e.g. env=prod, team=payments."),
        widget=forms.TextInput(attrs={"placeholder": "env=prod, team=payments"}),
    )
    tls_client_key = forms.CharField(
        label=_("Client key (PEM)"),
        required=False,
        max_length=PEM_MAX,
        strip=False,
        widget=SecretTextarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}),
        help_text=_("Write-only: never shown again. Leave blank to keep the stored key."),
    )
    remove_tls_client_key = forms.BooleanField(
        label=_("Remove the stored client key"), required=False
    )
    ssh_private_key = forms.CharField(
        label=_("SSH private key"),
        required=False,
        max_length=PEM_MAX,
        strip=False,
        widget=SecretTextarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}),
        help_text=_(
            "Unencrypted OpenSSH or PEM key, write-only: never shown again. "
            "Leave blank to keep the stored key."
        ),
    )
    remove_ssh_private_key = forms.BooleanField(
        label=_("Remove the stored SSH key"), required=False
    )
    ssh_access_key = ssh_access.key_field(SecretTextarea)

    class Meta:
        model = Host
        fields = [
            "name",
            "endpoint",
            "labels",
            "owner_email",
            "scan_interval",
            "enabled",
            "image_scan",
            "tls_ca_cert",
            "tls_client_cert",
            "ssh_host_key",
            "ssh_access",
            "ssh_access_host_key",
        ]
        labels = {
            "name": _("Name"),
            "endpoint": _("Endpoint"),
            "owner_email": _("Owner email"),
            "scan_interval": _("Scan interval (minutes)"),
            "enabled": _("Scan this host on schedule"),
            "image_scan": _("Image scanning"),
            "tls_ca_cert": _("CA certificate (PEM)"),
            "tls_client_cert": _("Client certificate (PEM)"),
            "ssh_host_key": _("Pinned SSH host public key"),
            "ssh_access": _("SSH address for host checks"),
            "ssh_access_host_key": _("Pinned host key of that SSH server"),
        }
        help_texts = {
            "endpoint": _(
                "unix:///var/run/docker.sock, tcp://host:2376 (mutual TLS) or ssh://user@host:22"
            ),
            "tls_ca_cert": _("The CA that signed the daemon's certificate."),
            "ssh_host_key": _("One line, e.g. from ssh-keyscan, checked out of band."),
            "ssh_access": _(
                "user@host:22 — optional. Posture logs in there only to read the host's own "
                "files, processes and packages (read-only); the Docker API stays on TLS."
            ),
            "ssh_access_host_key": _("One line, e.g. from ssh-keyscan, checked out of band."),
            "image_scan": _(
                "OS packages: read from a running container of each image (GET only). Deep: "
                "also images without a container and Python, npm and Maven packages, by "
                "streaming the image. Each image is read once for the whole fleet."
            ),
        }
        widgets = {
            "tls_ca_cert": forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
            "tls_client_cert": forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
            "ssh_host_key": forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
            "ssh_access_host_key": forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
            "ssh_access": forms.TextInput(
                attrs={"placeholder": "posture@docker1.example.org:22", "spellcheck": "false"}
            ),
            "endpoint": forms.TextInput(
                attrs={"placeholder": "tcp://docker1.example.org:2376", "spellcheck": "false"}
            ),
        }

    def __init__(self, *args: Any, access: Access, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.access = access
        self.adding = self.instance.pk is None
        # Taken before validation: a ModelForm copies the submitted values onto its
        # instance while it validates, valid or not.
        self.before = audited(self.instance)
        self.endpoint: Endpoint | None = None
        teams = self.teams
        if teams is not None:
            self.fields["labels"].help_text = _(
                "Comma-separated key=value pairs; team=… must be one of your teams: %(teams)s."
            ) % {"teams": ", ".join(teams) or "—"}
        if not self.is_bound:
            labels = dict(self.instance.labels or {})
            if self.adding and teams and len(teams) == 1:
                labels.setdefault(TEAM_LABEL, teams[0])  # the one team it may add hosts to
            self.initial["labels"] = format_labels(labels)

    @property
    def teams(self) -> tuple[str, ...] | None:
        """The `team` label values this account may give a host; None: any."""
        scope = self.access.scope
        return None if scope.all_hosts else scope.teams

    def clean_endpoint(self) -> str:
        raw = self.cleaned_data["endpoint"].strip()
        self.endpoint = parse_endpoint(raw)
        if self.adding or not _same_endpoint(self.before["endpoint"], raw):
            # An endpoint left as it was is not registered again: an admin's unix:// host
            # stays editable (its labels, its interval) by a security account.
            try:
                targets.check_endpoint(raw, allow_unix=self.access.can(Perm.LOCAL_ENDPOINTS))
            except targets.TargetRefused as exc:
                raise ValidationError(exc.sentence) from None
        return raw

    def clean_labels(self) -> dict[str, str]:
        labels = parse_labels(self.cleaned_data["labels"])
        teams = self.teams
        if teams is not None and labels.get(TEAM_LABEL) not in teams:
            if not teams:
                raise ValidationError(
                    _("Your account belongs to no team, so it cannot hold hosts: ask an admin.")
                )
            if self.adding:
                message = _(
                    "You can add hosts of your teams only: %(teams)s. Label the host "
                    "team=<one of them>."
                )
            else:
                message = _(
                    "The host must stay in one of your teams: %(teams)s (label team=<one of them>)."
                )
            raise ValidationError(message, params={"teams": ", ".join(teams)})
        return labels

    def clean_tls_ca_cert(self) -> str:
        return self._certificate("tls_ca_cert", _("CA certificate"))

    def clean_tls_client_cert(self) -> str:
        return self._certificate("tls_client_cert", _("client certificate"))

    def _certificate(self, name: str, what: StrOrPromise) -> str:
        pem = _pem(self.cleaned_data.get(name, ""))
        if pem:
            try:
                keys.check_certificates(pem, str(what))
            except ValueError as exc:
                raise ValidationError(str(exc)) from None
        return pem

    def clean_tls_client_key(self) -> str:
        pem = _pem(self.cleaned_data.get("tls_client_key", ""))
        if pem:
            try:
                keys.check_private_key(pem)
            except ValueError as exc:
                raise ValidationError(str(exc)) from None
        return pem

    def clean_ssh_private_key(self) -> str:
        return self._ssh_key("ssh_private_key")

    def clean_ssh_access_key(self) -> str:
        return self._ssh_key("ssh_access_key")

    def _ssh_key(self, name: str) -> str:
        pem = _pem(self.cleaned_data.get(name, ""))
        if pem:
            try:
                keys.load_ssh_private_key(pem)
            except ValueError as exc:
                raise ValidationError(str(exc)) from None
        return pem

    def clean_ssh_host_key(self) -> str:
        return self._host_key("ssh_host_key")

    def clean_ssh_access_host_key(self) -> str:
        return self._host_key("ssh_access_host_key")

    def _host_key(self, name: str) -> str:
        line = " ".join((self.cleaned_data.get(name) or "").split())
        if line:
            try:
                keys.parse_ssh_host_key(line)
            except ValueError as exc:
                raise ValidationError(str(exc)) from None
        return line

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        for secret in ("tls_client_key", "ssh_private_key"):
            if data.get(secret) and data.get(f"remove_{secret}"):
                self.add_error(
                    f"remove_{secret}",
                    _("Either paste a new key or remove the stored one, not both."),
                )
        if self.endpoint is None:
            return data
        self._require_secrets_again(data)
        self.check_ssh_access(data, self.endpoint)
        if self.endpoint.transport is Transport.TLS:
            self._require_tls(data)
        elif self.endpoint.transport is Transport.SSH:
            self._require_ssh(data)
        return data

    def moved(self, data: dict[str, Any] | None = None) -> list[StrOrPromise]:
        """What of the host's identity this submission changes: where it is (endpoint) or
        how it is recognised (CA certificate, pinned host key). Empty for a new host."""
        data = self.cleaned_data if data is None else data
        if self.adding:
            return []
        changed: list[StrOrPromise] = []
        if "endpoint" in data and not _same_endpoint(self.before["endpoint"], data["endpoint"]):
            changed.append(_("the endpoint"))
        for name, what in (
            ("tls_ca_cert", _("the CA certificate")),
            ("ssh_host_key", _("the pinned host key")),
        ):
            if name in data and _fingerprint(data[name]) != self.before[name]:
                changed.append(what)
        return changed

    def _require_secrets_again(self, data: dict[str, Any]) -> None:
        """A stored key goes with the machine it was given for: moving the host (or trusting
        another certificate or host key for it) needs each stored key pasted again, or
        removed. Otherwise anyone who may edit a host could send its key to a machine of
        their own and log in with it where the key's owner can."""
        moved = self.moved(data)
        if not moved:
            return
        stored = {
            "tls_client_key": self.instance.has_tls_client_key,
            "ssh_private_key": self.instance.has_ssh_private_key,
        }
        for secret in ENDPOINT_SECRETS:
            if stored[secret] and not data.get(secret) and not data.get(f"remove_{secret}"):
                self.add_error(
                    secret,
                    ValidationError(
                        _(
                            "You changed %(what)s: enter %(secret)s again (or remove it), so "
                            "that a stored key is never sent to another machine."
                        ),
                        params={"what": ", ".join(map(str, moved)), "secret": SECRET_NAMES[secret]},
                    ),
                )

    def credential_changes(self) -> dict[str, list[str]]:
        """Which kinds of secret this submission replaced or removed (never their values)."""
        data = self.cleaned_data
        removed = [
            s
            for s in ENDPOINT_SECRETS
            if self.before[s] and not data.get(s) and data.get(f"remove_{s}")
        ]
        if self.before["ssh_access_key"] and not data.get("ssh_access"):
            removed.append("ssh_access_key")  # clearing the address removes the access
        return {"replaced": [s for s in SECRET_FIELDS if data.get(s)], "removed": removed}

    def _keeps(self, secret: str, stored: bool, data: dict[str, Any]) -> bool:
        return bool(data.get(secret)) or (stored and not data.get(f"remove_{secret}"))

    def _require_tls(self, data: dict[str, Any]) -> None:
        if "tls_ca_cert" in data and not data["tls_ca_cert"]:
            self.add_error(
                "tls_ca_cert",
                _(
                    "A tcp:// endpoint needs the CA certificate that "
                    "signed the daemon's certificate."
                ),
            )
        if "tls_client_cert" in data and not data["tls_client_cert"]:
            self.add_error(
                "tls_client_cert", _("A tcp:// endpoint needs a client certificate (mutual TLS).")
            )
        if "tls_client_key" in data and not self._keeps(
            "tls_client_key", self.instance.has_tls_client_key, data
        ):
            self.add_error(
                "tls_client_key", _("A tcp:// endpoint needs the client certificate's private key.")
            )
        key, cert = data.get("tls_client_key"), data.get("tls_client_cert")
        if key and cert and not _key_matches_cert(key, cert):
            self.add_error(
                "tls_client_key", _("This key does not belong to the client certificate.")
            )

    def _require_ssh(self, data: dict[str, Any]) -> None:
        if "ssh_private_key" in data and not self._keeps(
            "ssh_private_key", self.instance.has_ssh_private_key, data
        ):
            self.add_error("ssh_private_key", _("An ssh:// endpoint needs a private key."))
        if "ssh_host_key" in data and not data["ssh_host_key"]:
            self.add_error(
                "ssh_host_key",
                _(
                    "An ssh:// endpoint needs the server's host key, "
                    "pinned: Posture never trusts on first use."
                ),
            )

    def save(self, commit: bool = True) -> Host:
        host: Host = super().save(commit=False)
        data = self.cleaned_data
        if data.get("tls_client_key"):
            host.set_tls_client_key(data["tls_client_key"])
        elif data.get("remove_tls_client_key"):
            host.set_tls_client_key("")
        if data.get("ssh_private_key"):
            host.set_ssh_private_key(data["ssh_private_key"])
        elif data.get("remove_ssh_private_key"):
            host.set_ssh_private_key("")
        ssh_access.save(host, data)
        if commit:
            host.save()
        return host

"""A tcp:// host's separate SSH access, for the host-level checks only (issue 16).

The Docker API of a mutual-TLS host is read over TLS; its files, processes and packages
need a shell. This is a second credential held like the first: an address that passes the
target policy, a pinned host key (never trust on first use) and a write-only private key
that goes with that address and host key only. Part of hosts.forms.HostForm.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from hosts import targets
from hosts.endpoints import Endpoint, Transport, format_ssh_access, parse_ssh_access
from hosts.models import Host

if TYPE_CHECKING:  # django-stubs is a development dependency only
    from django_stubs_ext import StrOrPromise

PEM_MAX = 64 * 1024  # as hosts.forms.PEM_MAX


def fingerprint(pem: str) -> str:
    """Certificates and host keys are public but long: the trail keeps a digest of them."""
    text = " ".join((pem or "").split())
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16] if text else ""


def key_field(widget: type[forms.Textarea]) -> forms.CharField:
    """`widget`: hosts.forms.SecretTextarea, which never renders a value."""
    return forms.CharField(
        label=_("SSH private key for host checks"),
        required=False,
        max_length=PEM_MAX,
        strip=False,
        widget=widget(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}),
        help_text=_(
            "Unencrypted OpenSSH or PEM key, write-only: never shown again. Leave blank to "
            "keep the stored key; clear the address above to remove the access and its key."
        ),
    )


def save(host: Host, data: dict[str, Any]) -> None:
    if not data.get("ssh_access"):
        # Removing the access removes its credential: nothing unused stays stored.
        host.ssh_access_host_key = ""
        host.set_ssh_access_key("")
    elif data.get("ssh_access_key"):
        host.set_ssh_access_key(data["ssh_access_key"])


class SshAccessMixin:
    """HostForm's rules for the SSH access fields; expects its `before`, `adding`,
    `instance`, `cleaned_data` and `add_error`."""

    before: dict[str, Any]
    adding: bool
    instance: Host
    cleaned_data: dict[str, Any]

    if TYPE_CHECKING:

        def add_error(self, field: str | None, error: Any) -> None: ...

    def clean_ssh_access(self) -> str:
        raw = (self.cleaned_data.get("ssh_access") or "").strip()
        if not raw:
            return ""
        address = format_ssh_access(parse_ssh_access(raw))
        if self.adding or address != self.before["ssh_access"]:
            # The same policy as any endpoint: a host editor must not aim Posture's SSH
            # client (and a key) at the metadata service or a refused network.
            try:
                targets.check_endpoint(f"ssh://{address}", allow_unix=False)
            except targets.TargetRefused as exc:
                raise ValidationError(exc.sentence) from None
        return address

    def check_ssh_access(self, data: dict[str, Any], endpoint: Endpoint) -> None:
        """A tcp:// host's SSH access for host checks: all three parts or none, and its key
        entered again when its address or pinned host key changes (as for the endpoint)."""
        if "ssh_access" not in data:
            return  # refused by clean_ssh_access already
        address = data["ssh_access"]
        if not address:
            if data.get("ssh_access_key") or data.get("ssh_access_host_key"):
                self.add_error(
                    "ssh_access",
                    _("Give the SSH address this key is for, or leave the SSH access empty."),
                )
            return
        if endpoint.transport is not Transport.TLS:
            self.add_error(
                "ssh_access",
                _(
                    "Separate SSH access is for tcp:// hosts only: an ssh:// host's checks use "
                    "its own connection, a unix:// host's are read on Posture's machine. "
                    "Clear this address."
                ),
            )
            return
        if "ssh_access_host_key" in data and not data["ssh_access_host_key"]:
            self.add_error(
                "ssh_access_host_key",
                _(
                    "SSH access needs the server's host key, pinned: Posture never trusts "
                    "on first use."
                ),
            )
        if "ssh_access_key" not in data or data["ssh_access_key"]:
            return
        moved: list[StrOrPromise] = []
        if not self.adding and self.before["ssh_access"]:
            if address != self.before["ssh_access"]:
                moved.append(_("the SSH address"))
            if "ssh_access_host_key" in data and (
                fingerprint(data["ssh_access_host_key"]) != self.before["ssh_access_host_key"]
            ):
                moved.append(_("its pinned host key"))
        if not self.instance.has_ssh_access_key:
            self.add_error("ssh_access_key", _("SSH access needs a private key."))
        elif moved:
            self.add_error(
                "ssh_access_key",
                ValidationError(
                    _(
                        "You changed %(what)s: enter the SSH private key for host checks "
                        "again, so that a stored key is never sent to another machine."
                    ),
                    params={"what": ", ".join(map(str, moved))},
                ),
            )

"""An inventory entry read: plain values checked for shape, credentials resolved from their
references (file:/path, env:NAME) and never taken inline. Validation proper is the host
form's (hosts.inventory)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from django.utils.translation import gettext as _

from hosts import keys
from hosts.inventory_io import RawEntry
from hosts.models import default_interval

SECRET_KEYS = {
    "tls_key": "tls_client_key",
    "ssh_key": "ssh_private_key",
    "ssh_access_key": "ssh_access_key",
}
PUBLIC_KEYS = {
    "tls_ca": "tls_ca_cert",
    "tls_cert": "tls_client_cert",
    "host_key": "ssh_host_key",
    "ssh_access_host_key": "ssh_access_host_key",
}
# Form field -> how the inventory spells it, for messages.
SPELLING = {
    "owner_email": "owner",
    "scan_interval": "interval",
    "tls_ca_cert": "tls.ca",
    "tls_client_cert": "tls.cert",
    "tls_client_key": "tls.key",
    "remove_tls_client_key": "tls.key",
    "ssh_private_key": "ssh_key",
    "remove_ssh_private_key": "ssh_key",
    "ssh_host_key": "host_key",
    "ssh_access": "ssh_access.address",
    "ssh_access_host_key": "ssh_access.host_key",
    "ssh_access_key": "ssh_access.key",
}
MATERIAL_MAX = 64 * 1024  # as hosts.forms.PEM_MAX
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


class RefError(ValueError):
    pass


@dataclass(frozen=True)
class Material:
    """Key or certificate text and where it came from (for messages; never the text)."""

    text: str
    origin: str


@dataclass(frozen=True)
class References:
    """Where `file:` and `env:` may read. The command line reads what its user can (it runs
    on the machine, as someone who holds it); over the API a remote caller must not make the
    server read its own files or environment (its keys, its settings), so env: is refused
    and file: is limited to one directory the operator provisions for key files."""

    allow_env: bool = True
    base_dir: Path | None = None  # relative file: paths (the inventory's directory)
    only_under: Path | None = None
    allow_files: bool = True

    def read(self, value: str, what: str) -> Material:
        scheme, _sep, rest = value.partition(":")
        if scheme == "env" and rest:
            if not self.allow_env:
                raise RefError(
                    _(
                        "%(what)s: env: references are not accepted here; use file: under "
                        "the inventory secrets directory."
                    )
                    % {"what": what}
                )
            text = os.environ.get(rest)
            if text is None:
                raise RefError(
                    _("%(what)s: the environment variable %(name)s is not set.")
                    % {"what": what, "name": rest}
                )
            return Material(text, f"env:{rest}")
        if scheme == "file" and rest:
            return Material(self._file(rest, what), f"file:{rest}")
        raise RefError(_("%(what)s: give a reference, file:/path or env:NAME.") % {"what": what})

    def _file(self, raw: str, what: str) -> str:
        if not self.allow_files:
            raise RefError(
                _(
                    "%(what)s: file: references are refused here "
                    "(POSTURE_INVENTORY_SECRETS_DIR is not set)."
                )
                % {"what": what}
            )
        path = Path(raw).expanduser()
        if not path.is_absolute() and self.base_dir is not None:
            path = self.base_dir / path
        if self.only_under is not None:
            root = os.path.realpath(self.only_under)
            real = os.path.realpath(path)
            if os.path.commonpath([root, real]) != root:
                raise RefError(
                    _("%(what)s: %(path)s is outside the inventory secrets directory.")
                    % {"what": what, "path": raw}
                )
            path = Path(real)
        try:
            if not path.is_file():
                raise RefError(_("%(what)s: %(path)s is not a file.") % {"what": what, "path": raw})
            with path.open("rb") as handle:
                data = handle.read(MATERIAL_MAX + 1)
        except OSError as exc:
            raise RefError(
                _("%(what)s: cannot read %(path)s (%(error)s).")
                % {"what": what, "path": raw, "error": exc.strerror}
            ) from None
        if len(data) > MATERIAL_MAX:
            raise RefError(
                _("%(what)s: %(path)s is larger than 64 KiB.") % {"what": what, "path": raw}
            )
        try:
            return data.decode()
        except UnicodeDecodeError:
            raise RefError(
                _("%(what)s: %(path)s is not text (PEM).") % {"what": what, "path": raw}
            ) from None


def public_fingerprint(kind: str, pem: str) -> str:
    """SHA-256 of the public half of a private key: public, stable across PEM spellings."""
    if kind == "tls_client_key":
        public = load_pem_private_key(pem.encode(), password=None).public_key()
        blob = public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    else:
        blob = keys.load_ssh_private_key(pem).asbytes()
    return "sha256:" + hashlib.sha256(blob).hexdigest()


@dataclass
class Entry:
    """One host as the inventory states it: plain values, public material and secrets."""

    where: str
    name: str
    values: dict[str, Any] = field(default_factory=dict)
    material: dict[str, Material] = field(default_factory=dict)  # by form field
    problems: list[str] = field(default_factory=list)


def read_entry(raw: RawEntry, refs: References) -> Entry:
    values = raw.values
    entry = Entry(raw.where, str(values.get("name") or "").strip(), {}, {}, list(raw.problems))
    if not entry.name:
        entry.problems.append(_("name is missing."))
    for key in ("endpoint", "owner", "image_scan", "ssh_access"):
        if key in values:
            entry.values[key] = "" if values[key] is None else str(values[key]).strip()
    entry.values["labels"] = _labels(values.get("labels"), entry)
    entry.values["interval"] = _interval(values.get("interval"), entry)
    entry.values["enabled"] = _enabled(values.get("enabled"), entry)
    for key, form_field in SECRET_KEYS.items():
        value = values.get(key)
        if value in (None, ""):
            continue
        text = str(value).strip()
        if text.startswith(("file:", "env:")):
            _take(entry, form_field, text, refs)
        else:
            entry.problems.append(
                _(
                    "%(key)s: a key is never written in the inventory; put it in a file or an "
                    "environment variable and give file:/path or env:NAME."
                )
                % {"key": SPELLING[form_field]}
            )
    for key, form_field in PUBLIC_KEYS.items():
        value = values.get(key)
        if value in (None, ""):
            continue
        text = str(value)
        if text.startswith(("file:", "env:")):
            _take(entry, form_field, text, refs)
        elif "PRIVATE KEY" in text:
            entry.problems.append(
                _("%(key)s holds a private key: give it by reference, never inline.")
                % {"key": SPELLING[form_field]}
            )
        else:
            entry.material[form_field] = Material(text, "inline")  # public: certificates, host keys
    return entry


def _take(entry: Entry, form_field: str, ref: str, refs: References) -> None:
    try:
        entry.material[form_field] = refs.read(ref, SPELLING[form_field])
    except RefError as exc:
        entry.problems.append(str(exc))


def _labels(value: Any, entry: Entry) -> str:
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        bad = [str(k) for k, v in value.items() if any(c in f"{k}{v}" for c in ",=\n")]
        if bad:
            entry.problems.append(
                _("labels: commas, “=” and new lines cannot be part of a label (%(keys)s).")
                % {"keys": ", ".join(bad)[:80]}
            )
        return ", ".join(f"{k}={'' if v is None else v}" for k, v in value.items())
    entry.problems.append(_("labels: give a mapping (env: prod) or key=value pairs."))
    return ""


def _interval(value: Any, entry: Entry) -> int:
    if value in (None, ""):
        return default_interval()
    try:
        return int(str(value).strip())
    except ValueError:
        entry.problems.append(
            _("interval: a number of minutes, not %(value)s.") % {"value": repr(str(value)[:20])}
        )
        return default_interval()


def _enabled(value: Any, entry: Entry) -> bool:
    if value in (None, ""):
        return True
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in _TRUE | _FALSE:
        entry.problems.append(
            _("enabled: true or false, not %(value)s.") % {"value": repr(str(value)[:20])}
        )
    return text not in _FALSE

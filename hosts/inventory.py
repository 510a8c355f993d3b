"""Fleet inventory as code: a list of hosts imported idempotently, through the host form.

Each entry is checked by the same HostForm a person fills in (endpoint, target policy,
labels and team scope, certificates, pinned host keys, keys that belong to their
certificate, keys entered again when a host moves), for the same account. Nothing is
written unless every entry is valid, and then all of it in one transaction with its audit
events. Credential material left out of an entry (certificates, pinned host keys, private
keys) keeps what is stored, so an export imports back unchanged; other fields left out take
their defaults: the file says what the host is.

Secrets are never in the inventory: a key is a reference, `file:/path` or `env:NAME`
(References). "Unchanged" for a sealed key, which this process cannot open, is decided on
its public half: Host.key_fingerprints holds the SHA-256 of the public key of each key an
import sealed; the same fingerprint from the referenced file means the same key. A key
sealed by another path (the form, `host add`) has no recorded fingerprint, so the next
import seals it again once and records it: "unknown" is never taken for "unchanged".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from access.roles import Perm
from access.services import Access
from audit.services import diff, record
from hosts.endpoints import Transport, parse_endpoint
from hosts.forms import SECRET_FIELDS, HostForm, audited
from hosts.inventory_entries import (
    PUBLIC_KEYS,
    SECRET_KEYS,
    SPELLING,
    Entry,
    public_fingerprint,
)
from hosts.models import Host


@dataclass
class Change:
    name: str
    action: str  # create, change, unchanged, delete
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    host: Host | None = None
    form: HostForm | None = None
    replaced: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    applied: bool = False

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)

    def summary(self) -> str:
        text = _("%(created)s created, %(changed)s changed, %(unchanged)s unchanged") % {
            "created": self.count("create"),
            "changed": self.count("change"),
            "unchanged": self.count("unchanged"),
        }
        deleted = self.count("delete")
        return text + (_(", %(deleted)s removed") % {"deleted": deleted} if deleted else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "created": self.count("create"),
            "changed": self.count("change"),
            "unchanged": self.count("unchanged"),
            "removed": self.count("delete"),
            "errors": self.errors,
            "changes": [
                {
                    "name": c.name,
                    "action": c.action,
                    "fields": {k: list(v) for k, v in c.fields.items()},
                }
                for c in self.changes
                if c.action != "unchanged"
            ],
        }


def plan(entries: list[Entry], *, access: Access, prune: bool = False) -> Plan:
    """What importing `entries` would do; writes nothing. Errors name the entry."""
    result = Plan()
    names = [e.name for e in entries if e.name]
    existing = {h.name: h for h in Host.objects.filter(name__in=names)}
    seen: set[str] = set()
    for entry in entries:
        label = f"{entry.where}, {entry.name or '?'}"
        if entry.name in seen:
            entry.problems.append(_("the name is listed twice."))
        seen.add(entry.name)
        if entry.problems:
            result.errors.extend(f"{label}: {p}" for p in entry.problems)
            continue
        host = existing.get(entry.name)
        if host is not None and not access.can_on(Perm.HOST_EDIT, host.labels):
            host = None  # not this account's: the form then says the name is taken
        change = _check(entry, host, access)
        if change.form is not None and change.form.errors:
            result.errors.extend(f"{label}: {m}" for m in _messages(change.form))
            continue
        result.changes.append(change)
    if prune and not entries:
        # An empty file (a failed template, a truncated download) is never "remove all".
        result.errors.append(_("The inventory lists no host: --prune would remove them all."))
    elif prune:
        listed = set(names)
        stale = access.scope.filter(Host.objects.exclude(name__in=listed)).order_by("name")
        result.changes.extend(Change(h.name, "delete", host=h) for h in stale)
    return result


def _messages(form: HostForm) -> list[str]:
    return [
        f"{SPELLING.get(name, name) if name != '__all__' else ''}: {message}".lstrip(": ")
        for name, errors in form.errors.items()
        for message in errors
    ]


def _check(entry: Entry, host: Host | None, access: Access) -> Change:
    fingerprints = dict(host.key_fingerprints or {}) if host else {}
    sealed = {s: getattr(host, f"{s}_enc") for s in SECRET_FIELDS} if host else {}
    form = HostForm(_form_data(entry, host), instance=host, access=access)
    change = Change(entry.name, "create" if host is None else "change", form=form)
    if not form.is_valid():
        return change
    saved = form.save(commit=False)
    for secret in SECRET_FIELDS:
        material = entry.material.get(secret)
        if not getattr(saved, f"{secret}_enc"):
            fingerprints.pop(secret, None)
        elif material is not None:
            new = public_fingerprint(secret, form.cleaned_data[secret])
            if host is not None and fingerprints.get(secret) == new and sealed.get(secret):
                setattr(saved, f"{secret}_enc", sealed[secret])  # the same key: not sealed again
            else:
                fingerprints[secret] = new
                change.replaced.append(secret)
    saved.key_fingerprints = fingerprints
    change.removed = [s for s in SECRET_FIELDS if sealed.get(s) and not getattr(saved, f"{s}_enc")]
    change.fields = diff(form.before, audited(saved), secret=SECRET_FIELDS)
    change.host = saved
    if host is not None and not change.fields:
        change.action = "unchanged"
    return change


def _form_data(entry: Entry, host: Host | None) -> dict[str, Any]:
    values = entry.values
    data: dict[str, Any] = {
        "name": entry.name,
        "endpoint": values.get("endpoint", host.endpoint if host else ""),
        "labels": values["labels"],
        "owner_email": values.get("owner", ""),
        "scan_interval": values["interval"],
        "enabled": values["enabled"],
        "image_scan": values.get("image_scan", ""),
        "ssh_access": values.get("ssh_access", ""),
    }
    for form_field in (*PUBLIC_KEYS.values(), *SECRET_KEYS.values()):
        material = entry.material.get(form_field)
        stored = (
            getattr(host, form_field, "") if host and form_field in PUBLIC_KEYS.values() else ""
        )
        data[form_field] = material.text if material else stored
    if host is not None:
        # A stored key of a kind the new endpoint does not use goes (the form would ask for
        # it again, the endpoint having changed); one it uses is kept unless given anew.
        try:
            transport = parse_endpoint(data["endpoint"]).transport
        except ValidationError:  # the form words the endpoint's error
            transport = None
        if transport is not Transport.TLS and "tls_client_key" not in entry.material:
            data["remove_tls_client_key"] = host.has_tls_client_key
        if transport is not Transport.SSH and "ssh_private_key" not in entry.material:
            data["remove_ssh_private_key"] = host.has_ssh_private_key
    return data


def describe(result: Plan) -> list[str]:
    """The plan as lines for a person: + created, ~ changed (field: before → after), -
    removed. Keys show as "(replaced)", certificates and host keys as fingerprints."""
    lines = []
    for change in result.changes:
        if change.action == "create":
            host = change.host
            lines.append(f"+ {change.name}  {host.endpoint if host else ''}")
        elif change.action == "delete":
            lines.append(f"- {change.name}")
        elif change.action == "change":
            lines.append(f"~ {change.name}")
            lines.extend(
                f"    {name}: {_show(old)} → {_show(new)}"
                for name, (old, new) in change.fields.items()
            )
    return lines


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={v}" for k, v in sorted(value.items())) + "}"
    return repr(value) if value in ("", None) else str(value)


def export_entries(hosts: Iterable[Host]) -> list[dict[str, Any]]:
    """The inventory of `hosts` as import reads it back: public material inline, private
    keys left out (an entry without a key keeps the stored one)."""
    entries = []
    for host in hosts:
        values: dict[str, Any] = {
            "name": host.name,
            "endpoint": host.endpoint,
            "labels": dict(host.labels or {}),
            "owner": host.owner_email,
            "interval": host.scan_interval,
            "enabled": host.enabled,
            "image_scan": host.image_scan,
            "tls_ca": host.tls_ca_cert,
            "tls_cert": host.tls_client_cert,
            "host_key": host.ssh_host_key,
            "ssh_access": host.ssh_access,
            "ssh_access_host_key": host.ssh_access_host_key,
        }
        entries.append({k: v for k, v in values.items() if v not in ("", None)})
    return entries


def apply(result: Plan, *, audit: dict[str, Any]) -> None:
    """Write a valid plan, with its audit events; `audit`: record()'s request= or source=."""
    for change in result.changes:
        host = change.host
        if host is None or change.action == "unchanged":
            continue
        if change.action == "delete":
            record(
                "host.deleted",
                target=host,
                details={"endpoint": host.endpoint, "labels": host.labels, "via": "inventory"},
                **audit,
            )
            host.delete()
            continue
        host.save()
        if change.action == "create":
            details = {
                "endpoint": host.endpoint,
                "labels": host.labels,
                "credentials": change.replaced,
                "via": "inventory",
            }
            record("host.created", target=host, details=details, **audit)
            continue
        record(
            "host.updated",
            target=host,
            changes=change.fields,
            details={"via": "inventory"},
            **audit,
        )
        if "endpoint" in change.fields:
            record(
                "host.endpoint_changed",
                target=host,
                changes={"endpoint": change.fields["endpoint"]},
                **audit,
            )
        if change.replaced or change.removed:
            details = {"replaced": change.replaced, "removed": change.removed, "via": "inventory"}
            record("host.credentials_replaced", target=host, details=details, **audit)
    result.applied = True


def run(
    entries: list[Entry],
    *,
    access: Access,
    audit: dict[str, Any],
    dry_run: bool = False,
    prune: bool = False,
) -> Plan:
    """Plan, and apply unless asked not to or any entry is invalid: all or nothing.
    `entries`: hosts.inventory_entries.read_entry over a parsed file (hosts.inventory_io)."""
    with transaction.atomic():
        result = plan(entries, access=access, prune=prune)
        if dry_run or result.errors:
            return result
        apply(result, audit=audit)
        if any(c.action != "unchanged" for c in result.changes):
            record(
                "host.inventory_imported",
                details={k: v for k, v in result.as_dict().items() if k != "changes"}
                | {"prune": prune},
                **audit,
            )
    return result

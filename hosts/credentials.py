"""Opened credentials for one scan, and re-sealing stored ones under the current key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from django.apps import apps
from django.db import models, transaction

from posture.lib import crypto

# Every model field whose name ends so holds sealed ciphertext: the hosts' keys, the alert
# channels' URLs and signing keys (tests/hosts/test_rotate_keys.py checks that nothing sealed
# lands in a field named otherwise).
SEALED_SUFFIX = "_enc"


@dataclass(frozen=True)
class Credentials:
    """Decrypted connection material for one scan. repr() never shows the secrets."""

    ca_cert: str = ""
    client_cert: str = ""
    client_key: str = field(default="", repr=False)
    ssh_private_key: str = field(default="", repr=False)
    ssh_host_key: str = ""


@dataclass
class Rotation:
    resealed: int = 0
    already_current: int = 0
    # "hosts.host 3 ssh_private_key_enc: why" — names and reasons, never a value.
    failed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Stale:
    """A stored secret not sealed under the current key."""

    model: str
    pk: object
    name: str
    field: str
    sealing: crypto.Sealing


def sealed_fields() -> list[tuple[type[models.Model], list[str]]]:
    """Found by name rather than listed, so a secret field added later is not forgotten."""
    found = []
    for model in apps.get_models():
        names = [
            f.attname
            for f in model._meta.concrete_fields
            if f.attname.endswith(SEALED_SUFFIX)
            and isinstance(f, models.TextField | models.CharField)
        ]
        if names:
            found.append((model, names))
    return found


def stale() -> Iterator[Stale]:
    for model, names in sealed_fields():
        for row in model._default_manager.order_by("pk").iterator():
            for name in names:
                token = getattr(row, name)
                if token and (how := crypto.sealing(token)) is not crypto.Sealing.CURRENT:
                    yield Stale(model._meta.label_lower, row.pk, str(row), name, how)


def rotate(batch_size: int = 200) -> Rotation:
    """Re-seal every stored secret under the current public key; idempotent.

    One transaction per batch: a failure part-way leaves whole batches done and the rest
    still readable under the old keys, so running it again finishes the job. A secret that
    cannot be opened is left as it is and reported, never dropped.
    """
    report = Rotation()
    for model, names in sealed_fields():
        manager = model._default_manager
        pks = list(manager.order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(pks), batch_size):
            with transaction.atomic():
                rows = manager.select_for_update().filter(pk__in=pks[start : start + batch_size])
                for row in rows.values("pk", *names):
                    _reseal(model, row, names, report)
    return report


def _reseal(
    model: type[models.Model], row: dict[str, object], names: list[str], report: Rotation
) -> None:
    for name in names:
        token = row[name]
        if not isinstance(token, str) or not token:
            continue
        if crypto.sealing(token) is crypto.Sealing.CURRENT:
            report.already_current += 1
            continue
        try:
            resealed = crypto.encrypt(crypto.decrypt(token))
        except crypto.DecryptionError as exc:
            report.failed.append(f"{model._meta.label_lower} {row['pk']} {name}: {exc}")
            continue
        # Compare-and-set: a key replaced through the form meanwhile is newer; keep it.
        # update() rather than save(): re-sealing changes nothing a person did (updated_at).
        done = model._default_manager.filter(pk=row["pk"], **{name: token}).update(
            **{name: resealed}
        )
        report.resealed += done

"""Which models django-auditlog follows, and which of their fields it must never copy.

Models are named by label and looked up in the app registry when the audit app is ready:
audit sits low in INSTALLED_APPS and imports none of the apps above it
(tests/posture/test_import_graph.py); the registry only needs them loaded, not imported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from auditlog.registry import auditlog
from django.apps import apps
from django.conf import settings
from django.db.models import Model


@dataclass(frozen=True)
class Followed:
    label: str
    # Fields left out of the change entries: secrets, and bookkeeping that changes on its
    # own (a save that changes only these writes no entry at all).
    exclude: tuple[str, ...] = ()
    m2m: frozenset[str] = field(default_factory=frozenset)


FOLLOWED = (
    Followed(
        "hosts.Host",
        exclude=("tls_client_key_enc", "ssh_private_key_enc", "next_scan_at", "updated_at"),
    ),
    Followed("policy.RiskException"),
    Followed("policy.RuleOverride"),
    Followed("vulns.VulnDecision"),
    Followed(settings.AUTH_USER_MODEL, exclude=("password", "last_login")),
    Followed("access.AccessProfile", exclude=("updated_at",), m2m=frozenset({"teams"})),
    Followed("access.Team"),
)

# Any field named like a secret is left out too, whatever the list above says: a sealed
# credential or token field added to a followed model later must not start landing in
# the trail in clear (or as ciphertext, which a stolen key would open).
SECRET_NAME = re.compile(r"(_enc|_sealed|_hash)$|password|secret|private_key|token", re.I)


def secret_fields(model: type[Model]) -> set[str]:
    return {f.name for f in model._meta.get_fields() if SECRET_NAME.search(f.name)}


def reverse_relations(model: type[Model]) -> set[str]:
    """Other models' links to this one: auditlog lists them on create and delete (as
    "trends.ReportSubscription.None"), which says nothing about the row itself."""
    return {f.name for f in model._meta.get_fields() if f.auto_created and not f.concrete}


def register_followed() -> list[type[Model]]:
    """Register every followed model that is installed; idempotent (tests re-run ready)."""
    done = []
    for spec in FOLLOWED:
        if spec.label.partition(".")[0] not in apps.app_configs:
            continue
        model = apps.get_model(spec.label)
        auditlog.unregister(model)
        auditlog.register(
            model,
            exclude_fields=sorted(
                set(spec.exclude) | secret_fields(model) | reverse_relations(model)
            ),
            m2m_fields=set(spec.m2m),
        )
        done.append(model)
    return done

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core import checks


class HostsConfig(AppConfig):
    name = "hosts"
    verbose_name = "Hosts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        checks.register(check_target_policy)


def check_target_policy(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A target policy that cannot be read refuses every scan (fail closed): say so at
    start-up, not at the first scan."""
    from django.conf import settings

    from hosts.targets import parse_policy

    try:
        parse_policy(settings.POSTURE_ALLOWED_TARGETS)
    except ValueError as exc:
        return [
            checks.Error(
                f"POSTURE_ALLOWED_TARGETS cannot be read: {exc}",
                hint="Entries are NETWORK[:PORTS], comma-separated (docs/LEAST_PRIVILEGE.md).",
                id="hosts.E001",
            )
        ]
    return []

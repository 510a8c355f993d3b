from __future__ import annotations

from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The one place alerts hook into scanning: scans knows nothing about alerts.
        from alerts.receivers import on_scan_finished
        from scans.signals import scan_finished

        scan_finished.connect(on_scan_finished, dispatch_uid="alerts.on_scan_finished")

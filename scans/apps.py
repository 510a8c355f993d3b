from django.apps import AppConfig


class ScansConfig(AppConfig):
    name = "scans"
    verbose_name = "Scans"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from policy.signals import rescan_requested
        from scans.receivers import on_rescan_requested

        rescan_requested.connect(on_rescan_requested, dispatch_uid="scans.rescan_requested")

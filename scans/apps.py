from django.apps import AppConfig


class ScansConfig(AppConfig):
    name = "scans"
    verbose_name = "Scans"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from policy.signals import rescan_requested
        from scans.receivers import on_rescan_requested, on_vulnerabilities_changed
        from vulns.signals import triage_changed, vulnerabilities_changed

        rescan_requested.connect(on_rescan_requested, dispatch_uid="scans.rescan_requested")
        vulnerabilities_changed.connect(
            on_vulnerabilities_changed, dispatch_uid="scans.vulnerabilities_changed"
        )
        triage_changed.connect(on_rescan_requested, dispatch_uid="scans.triage_changed")

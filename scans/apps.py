from django.apps import AppConfig


class ScansConfig(AppConfig):
    name = "scans"
    verbose_name = "Scans"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Keeps RuleTally in step with HostPosture rows saved or deleted through the ORM
        # (a deleted host, the admin, fixtures); store_success applies its own deltas.
        from scans import tallies

        tallies.connect()

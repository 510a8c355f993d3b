from django.apps import AppConfig


class VulndbConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "vulndb"
    verbose_name = "Vulnerability data"

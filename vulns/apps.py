from django.apps import AppConfig


class VulnsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "vulns"
    verbose_name = "Image vulnerabilities"

from django.apps import AppConfig


class HostsConfig(AppConfig):
    name = "hosts"
    verbose_name = "Hosts"
    default_auto_field = "django.db.models.BigAutoField"

from django.apps import AppConfig


class ExceptionsConfig(AppConfig):
    name = "exceptions"
    verbose_name = "Risk exceptions"
    default_auto_field = "django.db.models.BigAutoField"

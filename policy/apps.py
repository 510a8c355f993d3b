from django.apps import AppConfig


class PolicyConfig(AppConfig):
    name = "policy"
    verbose_name = "Policy"
    default_auto_field = "django.db.models.BigAutoField"

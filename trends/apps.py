from django.apps import AppConfig


class TrendsConfig(AppConfig):
    name = "trends"
    verbose_name = "Trends and reports"
    default_auto_field = "django.db.models.BigAutoField"

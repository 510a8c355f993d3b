from django.apps import AppConfig


class PostureConfig(AppConfig):
    name = "posture"
    verbose_name = "Posture"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from posture.middleware import start_idle_clock

        # Idle sessions (posture.middleware.IdleSessionMiddleware): a login starts the clock.
        user_logged_in.connect(start_idle_clock, dispatch_uid="posture-idle-clock")

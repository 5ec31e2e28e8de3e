from django.apps import AppConfig


class ConsentConfig(AppConfig):
    """Purposes, privacy notices, subjects, consent events and state."""

    name = "consent"
    verbose_name = "Purposes and consent"
    default_auto_field = "django.db.models.BigAutoField"

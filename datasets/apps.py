from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    """The catalog: datasets, fields, classification, scanner, connectors."""

    name = "datasets"
    verbose_name = "Dataset catalog"
    default_auto_field = "django.db.models.BigAutoField"

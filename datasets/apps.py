from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    """The catalog: datasets, fields, classification, scanner, connectors."""

    name = "datasets"
    verbose_name = "Dataset catalog"
    default_auto_field = "django.db.models.BigAutoField"

    # Model permissions per role (merged into governance.accounts.roles). Which datasets a
    # steward manages is an object permission (django-guardian "change_dataset").
    role_permissions = {
        "steward": {
            "datasets.add_dataset",
            "datasets.view_dataset",
            "datasets.view_field",
            "datasets.view_datacategory",
            "datasets.view_scan",
            "datasets.view_suggestion",
            "datasets.view_datasetreview",
            "datasets.view_tag",
        },
        "privacy_officer": {
            "datasets.view_dataset",
            "datasets.approve_dataset",
            "datasets.view_field",
            "datasets.view_datacategory",
            "datasets.view_scan",
            "datasets.view_suggestion",
            "datasets.view_datasetreview",
            "datasets.view_tag",
        },
        "engineer": {"datasets.view_datacategory"},
        "auditor": {
            "datasets.view_dataset",
            "datasets.view_field",
            "datasets.view_datacategory",
            "datasets.view_scan",
            "datasets.view_suggestion",
            "datasets.view_datasetreview",
            "datasets.view_tag",
        },
    }
    portal_nav = [{"label": "Catalog", "url": "datasets:list", "key": "catalog", "perm": []}]
    dashboard_panels = "datasets.selectors.dashboard_panels"
    demo_seeder = "datasets.demo.seed"
    # The data-category taxonomy, for apps that name categories without importing the catalog
    # (consent's purposes): function() -> [(key, name, special_category)].
    taxonomy_provider = "datasets.selectors.taxonomy_entries"

    def ready(self) -> None:
        from auditlog.registry import auditlog
        from django.db.models.signals import post_migrate

        post_migrate.connect(_ensure_taxonomy, sender=self, dispatch_uid="datasets.taxonomy")

        from datasets.models import DataCategory, Dataset, DatasetReview, Field, Scan, Suggestion

        auditlog.register(Dataset, m2m_fields={"tags"})
        auditlog.register(Field)
        auditlog.register(DataCategory)
        auditlog.register(DatasetReview)
        auditlog.register(Scan, exclude_fields=["progress", "columns_done"])
        auditlog.register(Suggestion)

        # A stewardship ends with the steward role (the roles service sends this signal).
        from datasets.services.catalog import on_roles_changed
        from governance.accounts.services import roles_changed

        roles_changed.connect(on_roles_changed, dispatch_uid="datasets.stewardships_end")


def _ensure_taxonomy(sender, using="default", apps=None, **kwargs) -> None:
    """Built-in categories are created by migration 0002; after a database flush (or if one
    was deleted by hand) the missing ones come back here. Existing rows are left as they are."""
    from datasets.taxonomy import CATEGORIES

    DataCategory = (apps or sender.apps).get_model("datasets", "DataCategory")
    present = set(DataCategory.objects.using(using).values_list("key", flat=True))
    DataCategory.objects.using(using).bulk_create(
        [
            DataCategory(
                key=c.key,
                name=c.name,
                default_role=c.role,
                special_category=c.special,
                is_builtin=True,
            )
            for c in CATEGORIES
            if c.key not in present
        ]
    )

from django.apps import AppConfig


class RetentionConfig(AppConfig):
    """Retention policies, legal holds, erasure requests and the Celery jobs that enforce them
    (deleting through the catalog's connectors), with deletion certificates."""

    name = "governance.retention"
    label = "retention"
    verbose_name = "Retention and erasure"
    default_auto_field = "django.db.models.BigAutoField"

    role_permissions = {
        "steward": {"retention.view_retentionpolicy", "retention.view_retentionrun"},
        "privacy_officer": {
            "retention.view_retentionpolicy",
            "retention.view_retentionrun",
            "retention.add_legalhold",
            "retention.view_legalhold",
            "retention.add_erasurerequest",
            "retention.view_erasurerequest",
        },
        "auditor": {
            "retention.view_retentionpolicy",
            "retention.view_retentionrun",
            "retention.view_legalhold",
            "retention.view_erasurerequest",
            "retention.view_deletioncertificate",
        },
    }
    portal_nav = [
        {
            "label": "Retention",
            "url": "retention:overview",
            "key": "retention",
            "perm": "retention.view_retentionrun",
        }
    ]
    dashboard_panels = "governance.retention.selectors.dashboard_panels"
    demo_seeder = "governance.retention.demo.seed"
    dataset_page_links = "governance.retention.selectors.dataset_links"
    evidence_pack_files = "governance.retention.selectors.evidence_files"
    withdrawal_impact = "governance.retention.selectors.withdrawal_impact"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from governance.retention import models, signals  # noqa: F401 - connects receivers

        # Holds and erasure requests hold subject ids: their changes are domain events with a
        # hash of the subject (services.subject_sha256), never model diffs with the id in clear.
        auditlog.register(models.RetentionPolicy)

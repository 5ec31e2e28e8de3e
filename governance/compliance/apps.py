from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    """Compliance exports: audit log, Records of Processing Activities, access report and
    per-dataset evidence packs, built by Celery workers and downloaded from the portal."""

    name = "governance.compliance"
    label = "compliance"
    verbose_name = "Compliance exports"
    default_auto_field = "django.db.models.BigAutoField"

    role_permissions = {
        "auditor": {"compliance.add_export", "compliance.view_export"},
        "privacy_officer": {"compliance.add_export", "compliance.view_export"},
    }
    portal_nav = [
        {
            "label": "Exports",
            "url": "compliance:exports",
            "key": "exports",
            "perm": "compliance.view_export",
        }
    ]
    dashboard_panels = "governance.compliance.services.dashboard_panels"

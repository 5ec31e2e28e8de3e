from django.apps import AppConfig


class SubjectAccessConfig(AppConfig):
    """Subject access (GDPR Art. 15): verified requests, a package of everything held about
    the subject read through the retention connectors, the one-month clock, keyed hashes of
    closed requests."""

    name = "governance.subject_access"
    label = "subject_access"
    verbose_name = "Subject access"
    default_auto_field = "django.db.models.BigAutoField"

    role_permissions = {
        "privacy_officer": {
            "subject_access.view_subjectaccessrequest",
            "subject_access.add_subjectaccessrequest",
        },
        "auditor": {"subject_access.view_subjectaccessrequest"},
    }
    portal_nav = [
        {
            "label": "Subject access",
            "url": "subject_access:requests",
            "key": "subject-access",
            "perm": "subject_access.view_subjectaccessrequest",
        }
    ]
    dashboard_panels = "governance.subject_access.selectors.dashboard_panels"

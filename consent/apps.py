from django.apps import AppConfig

_READ = {
    "consent.view_purpose",
    "consent.view_noticeversion",
}
_HISTORY = {
    "consent.view_subject",
    "consent.view_consentevent",
    "consent.view_consentstate",
    "consent.view_consentsnapshot",
}
_DRAFTING = {
    "consent.add_purpose",
    "consent.change_purpose",
    "consent.add_noticeversion",
}


class ConsentConfig(AppConfig):
    """Purposes, privacy notices, subjects, consent events and state."""

    name = "consent"
    verbose_name = "Purposes and consent"
    default_auto_field = "django.db.models.BigAutoField"

    # Who may do what (docs/consent.md, "Permissions"). Activation is not a permission: only a
    # person holding the privacy_officer role activates a purpose (legal sign-off), so the
    # administrator's "every permission" does not include it. Source systems (service
    # accounts) get consent.add_consentevent, training jobs consent.query_consent, by a direct
    # grant (`manage.py consent_grant`) or through a role.
    role_permissions = {
        "privacy_officer": _READ
        | _HISTORY
        | _DRAFTING
        | {"consent.add_consentevent", "consent.query_consent"},
        "steward": _READ | _HISTORY | _DRAFTING | {"consent.add_consentevent"},
        "auditor": _READ | _HISTORY,
        "engineer": _READ | {"consent.query_consent", "consent.view_consentsnapshot"},
    }
    portal_nav = [
        {
            "label": "Consent",
            "url": "consent:purpose-list",
            "key": "consent",
            "perm": "consent.view_purpose",
        },
        {
            "label": "Subjects",
            "url": "consent:subject-lookup",
            "key": "consent-subjects",
            "perm": "consent.view_consentevent",
        },
    ]
    dashboard_panels = "consent.selectors.dashboard_panels"
    demo_seeder = "consent.demo.seed"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from consent.models import NoticeVersion, Purpose

        auditlog.register(Purpose)
        auditlog.register(NoticeVersion)

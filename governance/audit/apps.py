from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "governance.audit"
    label = "audit"
    verbose_name = "Audit ledger"
    default_auto_field = "django.db.models.BigAutoField"
    portal_nav = [
        {"label": "Audit log", "url": "audit:log", "key": "audit", "perm": "audit.view_ledgerentry"}
    ]

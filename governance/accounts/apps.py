from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "governance.accounts"
    label = "accounts"
    verbose_name = "Accounts and roles"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from auditlog.registry import auditlog
        from django.contrib.auth.models import Group
        from oauth2_provider.models import get_application_model

        from governance.accounts import receivers  # noqa: F401  (login/logout events)
        from governance.accounts.models import ServiceAccount, User
        from governance.accounts.roles import roles_sync_after_migrate

        auditlog.register(
            User,
            exclude_fields=["password", "last_login"],
            m2m_fields={"groups", "user_permissions"},
        )
        auditlog.register(Group, m2m_fields={"permissions"})
        auditlog.register(ServiceAccount)
        auditlog.register(get_application_model(), exclude_fields=["client_secret"])
        post_migrate.connect(roles_sync_after_migrate, dispatch_uid="accounts.roles_sync")

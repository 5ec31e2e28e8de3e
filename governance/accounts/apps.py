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

        # Roles, staff and superuser flags change only through the roles service.
        from django.db.models.signals import m2m_changed, pre_save

        from governance.accounts.policy import guard_flags, guard_role_groups

        m2m_changed.connect(
            guard_role_groups, sender=User.groups.through, dispatch_uid="accounts.guard_roles"
        )
        pre_save.connect(guard_flags, sender=User, dispatch_uid="accounts.guard_flags")

"""Roles are Django groups whose permissions are declared here, in code.

Migration 0002 creates the groups; after every ``migrate`` the post_migrate hook re-applies this
declaration, so the model permissions of apps added later (catalog, consent, access, ...) join
their roles without a hand-written data migration each time. Permissions of these five groups
are therefore managed here: a change made by hand in the admin is undone on the next migrate.
Object-level permissions (which datasets a steward manages) live in django-guardian, not here.
"""

from __future__ import annotations

from django.db import models

ALL = "*"


class Role(models.TextChoices):
    STEWARD = "steward", "Data steward"
    PRIVACY_OFFICER = "privacy_officer", "Privacy officer"
    ENGINEER = "engineer", "ML engineer"
    AUDITOR = "auditor", "Auditor"
    ADMIN = "admin", "Administrator"


# "app_label.codename" of model permissions each role holds. Later apps add theirs here.
ROLE_PERMISSIONS: dict[str, set[str]] = {
    Role.STEWARD: {
        "accounts.view_user",
    },
    Role.PRIVACY_OFFICER: {
        "accounts.view_user",
        "accounts.view_serviceaccount",
        "audit.view_ledgerentry",
    },
    Role.ENGINEER: set(),
    Role.AUDITOR: {
        "accounts.view_user",
        "accounts.view_serviceaccount",
        "audit.view_ledgerentry",
        "audit.view_chainlink",
    },
    Role.ADMIN: {ALL},
}


def declared_permissions(apps=None) -> dict[str, set[str]]:
    """The declaration above merged with what each installed app contributes through a
    ``role_permissions = {"steward": {"datasets.view_dataset", ...}}`` attribute on its AppConfig.
    Apps contribute their own permissions this way, so accounts never imports them."""
    from django.apps import apps as live_apps

    merged = {role: set(perms) for role, perms in ROLE_PERMISSIONS.items()}
    for app_config in live_apps.get_app_configs():
        for role, perms in getattr(app_config, "role_permissions", {}).items():
            merged[Role(role)] |= set(perms)
    return merged


# Permissions no role may hold, whatever ALL says: the ledger is append-only.
NEVER_GRANTED = {
    "audit.change_ledgerentry",
    "audit.delete_ledgerentry",
    "audit.add_ledgerentry",
    "audit.change_chainlink",
    "audit.delete_chainlink",
    "audit.add_chainlink",
}


def roles_sync(apps=None) -> dict[str, int]:
    """Create the role groups and set their permissions to the declaration above.

    ``apps`` is a migration's historical registry or None for the live one. Permissions that do
    not exist yet (their app migrates later) are skipped; post_migrate adds them afterwards.
    Returns the number of permissions each role ended up with."""
    if apps is None:
        from django.apps import apps as live_apps

        apps = live_apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    everything = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in Permission.objects.values_list(
            "pk", "content_type__app_label", "codename"
        )
    }
    counts = {}
    for role, declared in declared_permissions().items():
        group, _ = Group.objects.get_or_create(name=str(role))
        wanted = set(everything) if ALL in declared else declared & set(everything)
        wanted -= NEVER_GRANTED
        group.permissions.set([everything[name] for name in sorted(wanted)])
        counts[str(role)] = len(wanted)
    return counts


def roles_sync_after_migrate(sender, **kwargs) -> None:
    """post_migrate fires once per installed app that has models, and auth creates each app's
    permissions in its own turn; syncing on the last such app's turn sees every permission."""
    from django.apps import apps as live_apps

    with_models = [a for a in live_apps.get_app_configs() if a.models_module is not None]
    if sender.label != with_models[-1].label:
        return
    roles_sync(kwargs.get("apps"))

"""Create the five role groups with their model permissions.

Permissions are normally created after all migrations (post_migrate); they are created here
first for the apps migrated so far, so the groups get theirs now. Apps migrated later get
theirs from the post_migrate hook (governance.accounts.roles.roles_sync_after_migrate)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def forwards(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    from governance.accounts.roles import roles_sync

    roles_sync(apps)


def backwards(apps, schema_editor):
    from governance.accounts.roles import Role

    apps.get_model("auth", "Group").objects.filter(name__in=Role.values).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_service_account"),
        ("audit", "0002_append_only"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("oauth2_provider", "__latest__"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]

"""Load the built-in data categories (fideslang-compatible dot paths) from
datasets/taxonomy.py. The list is frozen here as it was when this migration was written:
later additions get their own migration."""

from django.db import migrations

from datasets.taxonomy import CATEGORIES


def forwards(apps, schema_editor):
    DataCategory = apps.get_model("datasets", "DataCategory")
    for category in CATEGORIES:
        DataCategory.objects.update_or_create(
            key=category.key,
            defaults={
                "name": category.name,
                "default_role": category.role,
                "special_category": category.special,
                "is_builtin": True,
            },
        )


def backwards(apps, schema_editor):
    apps.get_model("datasets", "DataCategory").objects.filter(is_builtin=True).delete()


class Migration(migrations.Migration):
    dependencies = [("datasets", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]

"""Where a dataset lives (its connection included) is the catalog's: copy each policy's
connection onto its dataset, then drop it from the policy."""

from django.db import migrations


def connections_to_datasets(apps, schema_editor):
    RetentionPolicy = apps.get_model("retention", "RetentionPolicy")
    Dataset = apps.get_model("datasets", "Dataset")
    for dataset_id, connection in RetentionPolicy.objects.exclude(connection="").values_list(
        "dataset_id", "connection"
    ):
        Dataset.objects.filter(pk=dataset_id, connection="").update(connection=connection)


def connections_to_policies(apps, schema_editor):
    RetentionPolicy = apps.get_model("retention", "RetentionPolicy")
    for policy in RetentionPolicy.objects.select_related("dataset"):
        policy.connection = policy.dataset.connection
        policy.save(update_fields=["connection"])


class Migration(migrations.Migration):
    dependencies = [
        ("retention", "0002_append_only"),
        ("datasets", "0003_location_connection_and_creator"),
    ]

    operations = [
        migrations.RunPython(connections_to_datasets, connections_to_policies),
        migrations.RemoveField(model_name="retentionpolicy", name="connection"),
    ]

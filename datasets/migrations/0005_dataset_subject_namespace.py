"""Issue 16: training-job integration (docs/adr/0011-training-jobs-snapshots-budgets-keys.md)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("datasets", "0004_suggestion_decision_and_unclassified"),
    ]

    operations = [
        migrations.AddField(
            model_name="dataset",
            name="subject_namespace",
            field=models.CharField(
                blank=True,
                default="",
                help_text="The consent registry's namespace of the ids in the subject-id field (e.g. 'shop'): a consent filter keeps exactly these subjects.",
                max_length=64,
            ),
        ),
    ]

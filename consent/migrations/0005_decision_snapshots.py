"""Access decisions name a consent snapshot (kind "decision", always with a namespace), and a
filter or export asked at a snapshot points to it (basis). Issue 16; see
docs/adr/0011-training-jobs-snapshots-budgets-keys.md."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0004_purpose_activation_note"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="consentsnapshot",
            name="consent_snapshot_kind_valid",
        ),
        migrations.AddField(
            model_name="consentsnapshot",
            name="basis",
            field=models.ForeignKey(
                blank=True,
                help_text="The snapshot whose question this answer repeated (a filter or export asked at an access decision's snapshot).",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="consent.consentsnapshot",
            ),
        ),
        migrations.AlterField(
            model_name="consentsnapshot",
            name="kind",
            field=models.CharField(
                choices=[
                    ("filter", "Filter"),
                    ("export", "Export"),
                    ("decision", "Access decision"),
                ],
                max_length=16,
            ),
        ),
        migrations.AddIndex(
            model_name="consentsnapshot",
            index=models.Index(
                condition=models.Q(("kind", "decision")),
                fields=["purpose", "namespace", "-created_at"],
                name="consent_snapshot_decision",
            ),
        ),
        migrations.AddConstraint(
            model_name="consentsnapshot",
            constraint=models.CheckConstraint(
                condition=models.Q(("kind__in", ["filter", "export", "decision"])),
                name="consent_snapshot_kind_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="consentsnapshot",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("kind", "decision"), _negated=True),
                    models.Q(("namespace", ""), _negated=True),
                    _connector="OR",
                ),
                name="consent_snapshot_decision_has_namespace",
            ),
        ),
    ]

"""Signed checkpoints of the hash chain; append-only like the ledger and the chain."""

from django.db import migrations, models

from governance.audit.triggers import make_append_only

forwards, backwards = make_append_only("audit_checkpoint")


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only")]

    operations = [
        migrations.CreateModel(
            name="Checkpoint",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("size", models.BigIntegerField()),
                ("head_hash", models.CharField(max_length=64)),
                ("created_at", models.DateTimeField()),
                ("kid", models.CharField(max_length=100)),
                (
                    "signature",
                    models.CharField(help_text="Raw Ed25519 signature, base64url.", max_length=200),
                ),
                ("note", models.CharField(blank=True, default="", max_length=200)),
            ],
            options={
                "ordering": ["id"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("size__gte", 0)),
                        name="audit_checkpoint_size_not_negative",
                    )
                ],
            },
        ),
        migrations.RunPython(forwards, backwards, elidable=False),
    ]

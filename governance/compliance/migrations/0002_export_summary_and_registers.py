from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="export",
            name="summary",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="What the builder reported: rows written, warnings (e.g. what the RoPA could not state because nobody recorded it).",
            ),
        ),
        migrations.AlterField(
            model_name="export",
            name="kind",
            field=models.CharField(
                choices=[
                    ("audit_log", "Audit log (CSV, JSON Lines and verifiable bundle)"),
                    ("ropa", "Records of Processing Activities (GDPR Art. 30(1))"),
                    ("access_report", "Access report (allow/deny decisions)"),
                    ("evidence_pack", "Evidence pack for one dataset"),
                    ("registers", "Registers (processors, transfers, DPIAs, LIAs, breaches)"),
                ],
                max_length=32,
            ),
        ),
    ]

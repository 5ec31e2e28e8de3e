from django.conf import settings
from django.db import migrations, models


def acknowledged_before_outcomes(apps, schema_editor):
    """Alerts acknowledged before outcomes were kept say so; nothing is made up for them."""
    Alert = apps.get_model("access", "Alert")
    Alert.objects.filter(acknowledged_at__isnull=False, outcome="").update(outcome="not_recorded")


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0002_alert"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="alert",
            name="access_alert_once_per_window",
        ),
        migrations.AddField(
            model_name="alert",
            name="key",
            field=models.CharField(
                blank=True,
                default="",
                help_text='What tells this signal from others of the same rule, principal, dataset and window (e.g. "entry:812" for one large export); blank for most rules.',
                max_length=200,
            ),
        ),
        migrations.AddField(
            model_name="alert",
            name="outcome",
            field=models.CharField(
                blank=True,
                choices=[
                    ("expected", "Expected activity (explained)"),
                    ("false_positive", "False positive (the rule misfired)"),
                    ("incident", "Incident (misuse confirmed or suspected, escalated)"),
                    ("not_recorded", "Not recorded (acknowledged before outcomes were kept)"),
                ],
                default="",
                max_length=32,
            ),
        ),
        migrations.AddField(
            model_name="alert",
            name="outcome_note",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.AlterField(
            model_name="alert",
            name="rule",
            field=models.CharField(
                choices=[
                    ("rate_spike", "Decision rate spike"),
                    ("repeated_denials", "Repeated denials"),
                    ("restricted_off_hours", "Restricted data outside hours"),
                    ("bulk_export", "Many exports"),
                    ("large_export", "Large export"),
                    ("failed_authentication", "Failed authentications"),
                    ("new_datasets", "Many datasets never read before"),
                ],
                max_length=32,
            ),
        ),
        migrations.AddConstraint(
            model_name="alert",
            constraint=models.UniqueConstraint(
                fields=("rule", "principal", "dataset", "key", "window_start"),
                name="access_alert_once_per_signal_and_window",
            ),
        ),
        migrations.RunPython(acknowledged_before_outcomes, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="alert",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("acknowledged_at__isnull", True), ("outcome", "")),
                    models.Q(
                        ("acknowledged_at__isnull", False), models.Q(("outcome", ""), _negated=True)
                    ),
                    _connector="OR",
                ),
                name="access_alert_acknowledged_with_outcome",
            ),
        ),
    ]

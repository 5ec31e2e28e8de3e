import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="SubjectAccessRequest",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("namespace", models.CharField(default="default", max_length=64)),
                ("external_id", models.CharField(blank=True, default="", max_length=128)),
                (
                    "subject_hmac",
                    models.CharField(
                        blank=True,
                        default="",
                        help_text="Keyed hash of namespace:id, kept instead of the id once the request is closed.",
                        max_length=64,
                    ),
                ),
                ("received_on", models.DateField()),
                ("due_on", models.DateField()),
                ("extended", models.BooleanField(default=False)),
                ("extension_reason", models.TextField(blank=True, default="")),
                (
                    "identity_verification",
                    models.TextField(
                        help_text="How the subject's identity was verified before the request was recorded."
                    ),
                ),
                ("reference", models.CharField(blank=True, default="", max_length=200)),
                ("note", models.TextField(blank=True, default="")),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("open", "Open"),
                            ("completed", "Answered (package sent)"),
                            ("rejected", "Refused"),
                        ],
                        default="open",
                        max_length=16,
                    ),
                ),
                ("rejection_reason", models.TextField(blank=True, default="")),
                ("completion_note", models.TextField(blank=True, default="")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("closed_at", models.DateTimeField(blank=True, null=True)),
                ("package_name", models.CharField(blank=True, default="", max_length=200)),
                ("package_path", models.CharField(blank=True, default="", max_length=1000)),
                ("package_sha256", models.CharField(blank=True, default="", max_length=64)),
                ("package_size", models.PositiveBigIntegerField(blank=True, null=True)),
                ("package_summary", models.JSONField(blank=True, default=dict)),
                ("produced_at", models.DateTimeField(blank=True, null=True)),
                (
                    "closed_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "created_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "produced_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["status", "due_on", "id"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("status", "open"),
                            models.Q(
                                ("external_id", ""), models.Q(("subject_hmac", ""), _negated=True)
                            ),
                            _connector="OR",
                        ),
                        name="subject_access_closed_keeps_only_a_keyed_hash",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("status", "open"), ("package_path", ""), _connector="OR"
                        ),
                        name="subject_access_closed_keeps_no_package",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("due_on__gte", models.F("received_on"))),
                        name="subject_access_due_after_receipt",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("extended", False),
                            models.Q(("extension_reason", ""), _negated=True),
                            _connector="OR",
                        ),
                        name="subject_access_extension_has_reason",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("status", "rejected"), _negated=True),
                            models.Q(("rejection_reason", ""), _negated=True),
                            _connector="OR",
                        ),
                        name="subject_access_rejection_has_reason",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("identity_verification", ""), _negated=True),
                        name="subject_access_identity_verified",
                    ),
                ],
            },
        ),
    ]

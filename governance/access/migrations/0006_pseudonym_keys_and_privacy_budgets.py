"""Issue 16: training-job integration (docs/adr/0011-training-jobs-snapshots-budgets-keys.md)."""

import uuid

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0005_approval_notes_and_grant_conditions"),
        ("datasets", "0005_dataset_subject_namespace"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="BudgetRequirement",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "purpose_slug",
                    models.SlugField(
                        blank=True,
                        default="",
                        help_text="Empty: every purpose shares it.",
                        max_length=64,
                    ),
                ),
                ("epsilon", models.DecimalField(decimal_places=6, max_digits=12)),
                ("delta", models.DecimalField(decimal_places=18, default=0, max_digits=20)),
                ("block_days", models.PositiveIntegerField(blank=True, null=True)),
                ("starts_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("lock_seconds", models.PositiveIntegerField(default=3600)),
                ("note", models.TextField(blank=True, default="")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("retired_at", models.DateTimeField(blank=True, null=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "dataset",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="budget_requirements",
                        to="datasets.dataset",
                    ),
                ),
                (
                    "retired_by",
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
                "ordering": ["dataset", "purpose_slug", "-created_at"],
            },
        ),
        migrations.CreateModel(
            name="BudgetClaim",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("purpose_slug", models.SlugField(max_length=64)),
                ("epsilon", models.DecimalField(decimal_places=6, max_digits=12)),
                ("delta", models.DecimalField(decimal_places=18, default=0, max_digits=20)),
                (
                    "blocks",
                    models.JSONField(
                        default=list, help_text="Indexes of the data blocks it reads."
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("locked", "Locked"),
                            ("committed", "Committed (spent)"),
                            ("released", "Released"),
                            ("expired", "Lock expired (returned)"),
                        ],
                        default="locked",
                        max_length=16,
                    ),
                ),
                ("decision_id", models.CharField(blank=True, default="", max_length=64)),
                ("note", models.CharField(blank=True, default="", max_length=500)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("lock_expires_at", models.DateTimeField()),
                ("committed_at", models.DateTimeField(blank=True, null=True)),
                ("released_at", models.DateTimeField(blank=True, null=True)),
                (
                    "dataset",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="datasets.dataset",
                    ),
                ),
                (
                    "principal",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="budget_claims",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "requirement",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="claims",
                        to="access.budgetrequirement",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
        migrations.CreateModel(
            name="PurposeKey",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("purpose_slug", models.SlugField(max_length=64)),
                ("version", models.PositiveIntegerField()),
                (
                    "master_kid",
                    models.CharField(help_text="The master key that encrypts it.", max_length=64),
                ),
                (
                    "ciphertext",
                    models.BinaryField(help_text="nonce (12 bytes) || AES-GCM ciphertext and tag"),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "superseded_at",
                    models.DateTimeField(
                        blank=True, help_text="When the next version took over.", null=True
                    ),
                ),
                (
                    "created_by",
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
                "ordering": ["purpose_slug", "-version"],
            },
        ),
        migrations.AddConstraint(
            model_name="budgetrequirement",
            constraint=models.UniqueConstraint(
                condition=models.Q(("retired_at__isnull", True)),
                fields=("dataset",),
                name="access_budget_one_live_requirement_per_dataset",
            ),
        ),
        migrations.AddConstraint(
            model_name="budgetrequirement",
            constraint=models.CheckConstraint(
                condition=models.Q(("epsilon__gt", 0)), name="access_budget_epsilon_gt_0"
            ),
        ),
        migrations.AddConstraint(
            model_name="budgetrequirement",
            constraint=models.CheckConstraint(
                condition=models.Q(("delta__gte", 0), ("delta__lt", 1)),
                name="access_budget_delta_in_0_1",
            ),
        ),
        migrations.AddConstraint(
            model_name="budgetrequirement",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("block_days__isnull", True), ("block_days__gte", 1), _connector="OR"
                ),
                name="access_budget_block_days_gte_1",
            ),
        ),
        migrations.AddConstraint(
            model_name="budgetrequirement",
            constraint=models.CheckConstraint(
                condition=models.Q(("lock_seconds__gte", 10)),
                name="access_budget_lock_seconds_gte_10",
            ),
        ),
        migrations.AddIndex(
            model_name="budgetclaim",
            index=models.Index(
                fields=["status", "lock_expires_at"], name="access_budg_status_cf33cc_idx"
            ),
        ),
        migrations.AddConstraint(
            model_name="budgetclaim",
            constraint=models.CheckConstraint(
                condition=models.Q(("epsilon__gt", 0)), name="access_claim_epsilon_gt_0"
            ),
        ),
        migrations.AddConstraint(
            model_name="budgetclaim",
            constraint=models.CheckConstraint(
                condition=models.Q(("delta__gte", 0), ("delta__lt", 1)),
                name="access_claim_delta_in_0_1",
            ),
        ),
        migrations.AddConstraint(
            model_name="budgetclaim",
            constraint=models.CheckConstraint(
                condition=models.Q(("status__in", ["locked", "committed", "released", "expired"])),
                name="access_claim_status_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="budgetclaim",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("status", "committed"), _negated=True),
                    ("committed_at__isnull", False),
                    _connector="OR",
                ),
                name="access_claim_committed_has_time",
            ),
        ),
        migrations.AddConstraint(
            model_name="purposekey",
            constraint=models.UniqueConstraint(
                fields=("purpose_slug", "version"), name="access_purpose_key_version"
            ),
        ),
        migrations.AddConstraint(
            model_name="purposekey",
            constraint=models.UniqueConstraint(
                condition=models.Q(("superseded_at__isnull", True)),
                fields=("purpose_slug",),
                name="access_purpose_key_one_current",
            ),
        ),
        migrations.AddConstraint(
            model_name="purposekey",
            constraint=models.CheckConstraint(
                condition=models.Q(("version__gte", 1)), name="access_purpose_key_version_gte_1"
            ),
        ),
    ]

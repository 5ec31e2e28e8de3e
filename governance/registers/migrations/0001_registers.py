import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("consent", "0002_append_only"),
        ("datasets", "0004_suggestion_decision_and_unclassified"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="LegitimateInterestAssessment",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("reference", models.CharField(max_length=100, unique=True)),
                ("interest", models.TextField()),
                ("necessity", models.TextField()),
                ("balancing", models.TextField()),
                ("safeguards", models.TextField(blank=True, default="")),
                (
                    "outcome",
                    models.CharField(
                        choices=[
                            ("passed", "Passed: the interest is not overridden"),
                            ("failed", "Failed: another basis is needed"),
                        ],
                        max_length=16,
                    ),
                ),
                ("assessed_on", models.DateField()),
                ("review_on", models.DateField(blank=True, null=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "purpose",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="consent.purpose",
                    ),
                ),
                (
                    "updated_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "legitimate-interest assessment",
                "ordering": ["reference"],
            },
        ),
        migrations.CreateModel(
            name="ProcessingRecord",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("purpose_slug", models.CharField(max_length=64, unique=True)),
                ("security_measures", models.TextField(blank=True, default="")),
                (
                    "no_transfers",
                    models.BooleanField(
                        default=False,
                        help_text="Recorded: this purpose involves no transfer to a third country.",
                    ),
                ),
                (
                    "no_recipients",
                    models.BooleanField(
                        default=False, help_text="Recorded: no recipient outside the controller."
                    ),
                ),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "updated_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["purpose_slug"],
            },
        ),
        migrations.CreateModel(
            name="Recipient",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("name", models.CharField(max_length=200)),
                (
                    "role",
                    models.CharField(
                        choices=[
                            ("processor", "Processor"),
                            ("sub_processor", "Sub-processor"),
                            ("controller", "Controller"),
                            ("joint_controller", "Joint controller"),
                            ("public_authority", "Public authority"),
                        ],
                        max_length=32,
                    ),
                ),
                (
                    "country",
                    models.CharField(help_text="ISO 3166-1 code, e.g. IE or US.", max_length=2),
                ),
                ("contact", models.CharField(blank=True, default="", max_length=300)),
                (
                    "contract_reference",
                    models.CharField(
                        blank=True,
                        default="",
                        help_text="The Art. 28(3) contract or DPA.",
                        max_length=200,
                    ),
                ),
                ("contract_signed_on", models.DateField(blank=True, null=True)),
                ("contract_review_on", models.DateField(blank=True, null=True)),
                (
                    "security_measures",
                    models.TextField(
                        blank=True,
                        default="",
                        help_text="The recipient's technical and organisational measures.",
                    ),
                ),
                ("notes", models.TextField(blank=True, default="")),
                ("active", models.BooleanField(default=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "parent",
                    models.ForeignKey(
                        blank=True,
                        help_text="For a sub-processor: the processor it works for.",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="sub_processors",
                        to="registers.recipient",
                    ),
                ),
                (
                    "purposes",
                    models.ManyToManyField(blank=True, related_name="+", to="consent.purpose"),
                ),
                (
                    "updated_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["name", "id"],
            },
        ),
        migrations.CreateModel(
            name="Transfer",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "country",
                    models.CharField(help_text="ISO 3166-1 code of the destination.", max_length=2),
                ),
                (
                    "safeguard",
                    models.CharField(
                        choices=[
                            ("adequacy", "Adequacy decision, Art. 45"),
                            ("scc", "Standard contractual clauses, Art. 46(2)(c)"),
                            ("bcr", "Binding corporate rules, Art. 46(2)(b)"),
                            (
                                "public_instrument",
                                "Instrument between public authorities, Art. 46(2)(a)",
                            ),
                            ("code_of_conduct", "Approved code of conduct, Art. 46(2)(e)"),
                            ("certification", "Approved certification, Art. 46(2)(f)"),
                            (
                                "ad_hoc",
                                "Clauses authorised by the supervisory authority, Art. 46(3)(a)",
                            ),
                            ("derogation", "Derogation for a specific situation, Art. 49"),
                        ],
                        max_length=32,
                    ),
                ),
                ("safeguard_reference", models.CharField(blank=True, default="", max_length=300)),
                (
                    "derogation_reason",
                    models.TextField(
                        blank=True,
                        default="",
                        help_text="Which Art. 49(1) derogation applies, and why.",
                    ),
                ),
                (
                    "tia_completed_on",
                    models.DateField(
                        blank=True,
                        help_text="When the transfer impact assessment was completed.",
                        null=True,
                    ),
                ),
                ("data_categories", models.TextField(blank=True, default="")),
                ("started_on", models.DateField(blank=True, null=True)),
                ("ended_on", models.DateField(blank=True, null=True)),
                ("notes", models.TextField(blank=True, default="")),
                (
                    "created_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "purposes",
                    models.ManyToManyField(blank=True, related_name="+", to="consent.purpose"),
                ),
                (
                    "recipient",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="transfers",
                        to="registers.recipient",
                    ),
                ),
                (
                    "updated_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["country", "id"],
            },
        ),
        migrations.CreateModel(
            name="Breach",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("reference", models.CharField(max_length=100, unique=True)),
                ("title", models.CharField(max_length=300)),
                ("description", models.TextField()),
                ("became_aware_at", models.DateTimeField()),
                ("occurred_from", models.DateTimeField(blank=True, null=True)),
                ("occurred_until", models.DateTimeField(blank=True, null=True)),
                ("confidentiality", models.BooleanField(default=False)),
                ("integrity", models.BooleanField(default=False)),
                ("availability", models.BooleanField(default=False)),
                ("data_categories", models.TextField(blank=True, default="")),
                ("subjects_affected", models.PositiveIntegerField(blank=True, null=True)),
                ("records_affected", models.PositiveBigIntegerField(blank=True, null=True)),
                ("likely_consequences", models.TextField(blank=True, default="")),
                ("measures_taken", models.TextField(blank=True, default="")),
                (
                    "risk",
                    models.CharField(
                        choices=[
                            ("no_risk", "Unlikely to result in a risk"),
                            ("risk", "A risk to rights and freedoms"),
                            ("high_risk", "A high risk to rights and freedoms"),
                        ],
                        max_length=16,
                    ),
                ),
                ("authority_notified_at", models.DateTimeField(blank=True, null=True)),
                ("authority_reference", models.CharField(blank=True, default="", max_length=200)),
                ("authority_delay_reason", models.TextField(blank=True, default="")),
                (
                    "not_notified_reason",
                    models.TextField(
                        blank=True,
                        default="",
                        help_text="Why the authority was not notified (no risk).",
                    ),
                ),
                ("subjects_notified_at", models.DateTimeField(blank=True, null=True)),
                (
                    "subjects_not_notified_reason",
                    models.TextField(
                        blank=True,
                        default="",
                        help_text="Why the subjects were not told (Art. 34(3)).",
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[("open", "Open"), ("closed", "Closed")],
                        default="open",
                        max_length=16,
                    ),
                ),
                ("closed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "datasets",
                    models.ManyToManyField(
                        blank=True, related_name="breaches", to="datasets.dataset"
                    ),
                ),
                (
                    "updated_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "breaches",
                "ordering": ["-became_aware_at", "-id"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("confidentiality", True),
                            ("integrity", True),
                            ("availability", True),
                            _connector="OR",
                        ),
                        name="registers_breach_has_a_nature",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("authority_notified_at__isnull", True),
                            ("authority_notified_at__gte", models.F("became_aware_at")),
                            _connector="OR",
                        ),
                        name="registers_breach_notified_after_awareness",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="Dpia",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("reference", models.CharField(max_length=100, unique=True)),
                ("title", models.CharField(max_length=300)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("planned", "Planned"),
                            ("in_progress", "In progress"),
                            ("completed", "Completed"),
                            ("superseded", "Superseded"),
                        ],
                        default="planned",
                        max_length=16,
                    ),
                ),
                (
                    "residual_risk",
                    models.CharField(
                        choices=[
                            ("not_assessed", "Not assessed yet"),
                            ("low", "Low"),
                            ("medium", "Medium"),
                            ("high", "High"),
                        ],
                        default="not_assessed",
                        max_length=16,
                    ),
                ),
                (
                    "prior_consultation",
                    models.BooleanField(
                        default=False,
                        help_text="The supervisory authority was consulted (Art. 36).",
                    ),
                ),
                ("dpo_advice", models.TextField(blank=True, default="")),
                ("summary", models.TextField(blank=True, default="")),
                ("completed_on", models.DateField(blank=True, null=True)),
                ("review_on", models.DateField(blank=True, null=True)),
                ("document_url", models.URLField(blank=True, default="")),
                (
                    "created_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "datasets",
                    models.ManyToManyField(blank=True, related_name="dpias", to="datasets.dataset"),
                ),
                (
                    "purposes",
                    models.ManyToManyField(blank=True, related_name="+", to="consent.purpose"),
                ),
                (
                    "updated_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "DPIA",
                "ordering": ["reference"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("status", "completed"), _negated=True),
                            models.Q(("completed_on__isnull", False), ("review_on__isnull", False)),
                            _connector="OR",
                        ),
                        name="registers_dpia_completed_has_dates",
                    )
                ],
            },
        ),
        migrations.AddConstraint(
            model_name="recipient",
            constraint=models.CheckConstraint(
                condition=models.Q(("country__regex", "^[A-Z]{2}$")),
                name="registers_recipient_country_iso",
            ),
        ),
        migrations.AddConstraint(
            model_name="recipient",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("role", "sub_processor"), _negated=True),
                    ("parent__isnull", False),
                    _connector="OR",
                ),
                name="registers_sub_processor_has_parent",
            ),
        ),
        migrations.AddConstraint(
            model_name="transfer",
            constraint=models.CheckConstraint(
                condition=models.Q(("country__regex", "^[A-Z]{2}$")),
                name="registers_transfer_country_iso",
            ),
        ),
        migrations.AddConstraint(
            model_name="transfer",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("safeguard", "derogation"), _negated=True),
                    models.Q(("derogation_reason", ""), _negated=True),
                    _connector="OR",
                ),
                name="registers_derogation_has_reason",
            ),
        ),
    ]

"""The catalog: datasets, their fields and classification, privacy-by-design reviews, scans and
the suggestions a scan proposes."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from datasets.taxonomy import Role as RoleValues
from datasets.taxonomy import Special as SpecialValues


class DataCategory(models.Model):
    """A taxonomy entry with a fideslang-compatible dot path (``user.contact.email``)."""

    key = models.CharField(max_length=200, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    default_role = models.CharField(max_length=32, choices=RoleValues.CHOICES)
    special_category = models.CharField(
        max_length=64, choices=SpecialValues.CHOICES, blank=True, default=""
    )
    is_builtin = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["key"]
        verbose_name_plural = "data categories"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(key__regex=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"),
                name="datasets_datacategory_key_is_dot_path",
            ),
        ]

    def __str__(self) -> str:
        return self.key


class Tag(models.Model):
    name = models.SlugField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Dataset(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        IN_REVIEW = "in_review", "In review"
        APPROVED = "approved", "Approved"
        RETIRED = "retired", "Retired"

    class StorageKind(models.TextChoices):
        POSTGRES_TABLE = "postgres_table", "PostgreSQL table"
        CSV = "csv", "CSV"
        JSONL = "jsonl", "JSON Lines"
        PARQUET = "parquet", "Parquet"
        OTHER = "other", "Other"

    class Sensitivity(models.TextChoices):
        """Derived from the fields, never typed: see datasets.services.sensitivity_of."""

        PUBLIC = "public", "Public (no personal data)"
        INTERNAL = "internal", "Internal (quasi-identifiers or unclassified fields)"
        CONFIDENTIAL = "confidential", "Confidential (direct identifiers or sensitive data)"
        RESTRICTED = "restricted", "Restricted (special categories)"

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_datasets"
    )
    location = models.CharField(
        max_length=1000,
        blank=True,
        default="",
        help_text="Where the data lives: a URI or schema.table.",
    )
    storage_kind = models.CharField(max_length=32, choices=StorageKind.choices)
    connection = models.CharField(
        max_length=100,
        blank=True,
        default="",
        help_text="PostgreSQL tables: the configured connection (RETENTION_CONNECTIONS or "
        "SCANNER_CONNECTIONS) of the database the table lives in.",
    )
    subject_id_field = models.CharField(max_length=200, blank=True, default="")
    subject_namespace = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="The consent registry's namespace of the ids in the subject-id field (e.g. "
        "'shop'): a consent filter keeps exactly these subjects.",
    )
    event_time_field = models.CharField(max_length=200, blank=True, default="")
    tags = models.ManyToManyField(Tag, blank=True, related_name="datasets")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    sensitivity = models.CharField(
        max_length=16, choices=Sensitivity.choices, default=Sensitivity.PUBLIC, editable=False
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        help_text="Who cataloged it (never its approver). Empty for rows older than the field.",
    )
    updated_at = models.DateTimeField(default=timezone.now)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )

    class Meta:
        ordering = ["slug"]
        permissions = [("approve_dataset", "Can approve datasets (privacy sign-off)")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["draft", "in_review", "approved", "retired"]),
                name="datasets_dataset_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    sensitivity__in=["public", "internal", "confidential", "restricted"]
                ),
                name="datasets_dataset_sensitivity_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="approved") | models.Q(approved_at__isnull=False),
                name="datasets_dataset_approved_has_time",
            ),
        ]

    def __str__(self) -> str:
        return self.slug


class Field(models.Model):
    class Treatment(models.TextChoices):
        KEEP = "keep", "Keep"
        PSEUDONYMIZE = "pseudonymize", "Pseudonymize"
        MASK = "mask", "Mask"
        GENERALIZE = "generalize", "Generalize"
        DROP = "drop", "Drop"

    class Source(models.TextChoices):
        MANUAL = "manual", "Classified by a person"
        SCAN_ACCEPTED = "scan_accepted", "Scan suggestion accepted"
        SCAN_EDITED = "scan_edited", "Scan suggestion edited"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="fields")
    name = models.CharField(max_length=200)
    data_type = models.CharField(max_length=50, blank=True, default="")
    description = models.TextField(blank=True, default="")
    position = models.PositiveIntegerField(default=0)
    category = models.ForeignKey(
        DataCategory, on_delete=models.PROTECT, null=True, blank=True, related_name="fields"
    )
    role = models.CharField(
        max_length=32,
        choices=RoleValues.CHOICES,
        blank=True,
        default="",
        help_text="Empty until someone classifies the field.",
    )
    special_category = models.CharField(
        max_length=64, choices=SpecialValues.CHOICES, blank=True, default=""
    )
    treatment = models.CharField(max_length=16, choices=Treatment.choices, blank=True, default="")
    classification_source = models.CharField(
        max_length=16, choices=Source.choices, blank=True, default=""
    )
    classified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    classified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["dataset", "position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "name"], name="datasets_field_unique_name"),
            models.CheckConstraint(
                condition=models.Q(role="") | models.Q(treatment__gt=""),
                name="datasets_field_classified_has_treatment",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dataset.slug}.{self.name}"

    @property
    def is_classified(self) -> bool:
        return bool(self.role)


class DatasetReview(models.Model):
    """The privacy-by-design answers submitted with a dataset for review; one version per
    submission, kept for good."""

    class Decision(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        RETURNED = "returned", "Returned for changes"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="reviews")
    version = models.PositiveIntegerField()
    personal_fields_need = models.TextField(
        help_text="Why is each personal field needed for the purpose?"
    )
    anonymization = models.TextField(
        help_text="Can the data be anonymized or pseudonymized? If not, why not?"
    )
    access_and_duration = models.TextField(help_text="Who needs access, and for how long?")
    fields_snapshot = models.JSONField(default=list, help_text="The classification as submitted.")
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    submitted_at = models.DateTimeField(default=timezone.now)
    decision = models.CharField(max_length=16, choices=Decision.choices, default=Decision.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["dataset", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "version"], name="datasets_review_unique_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dataset.slug} review v{self.version}"


class Scan(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class SourceKind(models.TextChoices):
        UPLOAD = "upload", "Uploaded file"
        FILE = "file", "Referenced file"
        POSTGRES_TABLE = "postgres_table", "PostgreSQL table"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="scans")
    source_kind = models.CharField(max_length=16, choices=SourceKind.choices)
    file_format = models.CharField(max_length=16, blank=True, default="")
    source_path = models.CharField(max_length=1000, blank=True, default="")
    source_label = models.CharField(
        max_length=1000,
        blank=True,
        default="",
        help_text="What the user named: file name, path or table.",
    )
    connection_name = models.CharField(max_length=100, blank=True, default="")
    table = models.CharField(max_length=200, blank=True, default="")
    max_rows = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    columns_total = models.PositiveIntegerField(default=0)
    columns_done = models.PositiveIntegerField(default=0)
    rows_sampled = models.PositiveIntegerField(default=0)
    truncated = models.BooleanField(default=False)
    error_code = models.CharField(max_length=32, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    summary = models.JSONField(default=dict, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress__lte=100), name="datasets_scan_progress_percent"
            ),
        ]

    def __str__(self) -> str:
        return f"scan {self.pk} of {self.dataset.slug}"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.FAILED}


class Suggestion(models.Model):
    """What a scan proposes for one column, until a steward decides."""

    class Status(models.TextChoices):
        SUGGESTED = "suggested", "Waiting for review"
        ACCEPTED = "accepted", "Accepted"
        EDITED = "edited", "Accepted with edits"
        REJECTED = "rejected", "Rejected"
        KEPT = "kept", "Unchanged evidence: earlier decision kept"
        SUPERSEDED = "superseded", "Superseded by a later scan"

    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="suggestions")
    field = models.ForeignKey(Field, on_delete=models.CASCADE, related_name="suggestions")
    category = models.ForeignKey(
        DataCategory, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    role = models.CharField(
        max_length=32,
        choices=RoleValues.CHOICES,
        blank=True,
        help_text="Empty when the scanner left the column to a person (unclassified).",
    )
    special_category = models.CharField(
        max_length=64, choices=SpecialValues.CHOICES, blank=True, default=""
    )
    treatment = models.CharField(max_length=16, choices=Field.Treatment.choices, blank=True)
    confidence = models.DecimalField(max_digits=3, decimal_places=2)
    explanation = models.JSONField(default=dict)
    evidence = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SUGGESTED)
    changes = models.JSONField(
        default=dict,
        blank=True,
        help_text="What differs from the field's current classification or the last decision.",
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True, default="")
    decision = models.JSONField(
        default=dict,
        blank=True,
        help_text="What the steward chose when accepting or editing: category, role, special "
        "category and treatment (empty until then, and for rejections).",
    )

    class Meta:
        ordering = ["scan", "field__position", "field__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["scan", "field"], name="datasets_suggestion_one_per_field_per_scan"
            ),
            models.CheckConstraint(
                condition=models.Q(confidence__gte=0) & models.Q(confidence__lte=1),
                name="datasets_suggestion_confidence_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.field} → {self.category_id or 'non-personal'}"

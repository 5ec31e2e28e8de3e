"""Retention policies, legal holds, erasure requests, enforcement runs (with their journal of
batches) and the deletion certificates the runs issue.

A run's criteria are fixed when it is created (cutoff, subject set, holds) and stored on the
run, so a run resumed after a crash deletes exactly what it set out to delete. Each batch is
journaled (``RunBatch``) before the connector applies it and marked done after; see
``governance/retention/runner.py`` and docs/adr/0008-retention-runs.md. Certificates are
append-only (database triggers) and are also ledger events."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from consent.identifiers import DEFAULT_NAMESPACE

ACTIVE_RUN_STATUSES = ("queued", "running")


class RetentionPolicy(models.Model):
    class Action(models.TextChoices):
        DELETE = "delete", "Delete the rows"
        ANONYMIZE = "anonymize", "Anonymise the rows (empty the direct identifiers)"

    dataset = models.OneToOneField(
        "datasets.Dataset", on_delete=models.PROTECT, related_name="retention_policy"
    )
    max_age_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Rows older than this (by the event-time field) are due. Empty: only the "
        "purposes' retention periods apply.",
    )
    grace_days = models.PositiveIntegerField(
        default=0, help_text="Days added before anything is deleted (age and expiry)."
    )
    expires_on = models.DateField(
        null=True, blank=True, help_text="The whole dataset is deleted from this date (+ grace)."
    )
    action = models.CharField(max_length=16, choices=Action.choices, default=Action.DELETE)
    subject_namespace = models.CharField(
        max_length=64,
        default=DEFAULT_NAMESPACE,
        help_text="Consent-registry namespace of the ids in the dataset's subject-id field.",
    )
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "retention policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(max_age_days__isnull=True) | Q(max_age_days__gte=1),
                name="retention_policy_max_age_positive",
            ),
            models.CheckConstraint(
                condition=Q(grace_days__lte=3650), name="retention_policy_grace_bounded"
            ),
            models.CheckConstraint(
                condition=Q(action__in=["delete", "anonymize"]),
                name="retention_policy_action_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"retention of {self.dataset_id}"


class LegalHold(models.Model):
    """Stops deletion: of a whole dataset, or of one subject's rows (in one dataset or all)."""

    dataset = models.ForeignKey(
        "datasets.Dataset",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="legal_holds",
    )
    namespace = models.CharField(max_length=64, blank=True, default="")
    external_id = models.CharField(max_length=128, blank=True, default="")
    reason = models.TextField()
    reference = models.CharField(max_length=200, blank=True, default="")
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    placed_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    release_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-placed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(dataset__isnull=False) | ~Q(external_id=""),
                name="retention_hold_has_scope",
            ),
            models.CheckConstraint(
                condition=Q(external_id="") | ~Q(namespace=""),
                name="retention_hold_subject_has_namespace",
            ),
        ]

    def __str__(self) -> str:
        return f"hold {self.pk}"

    @property
    def is_active(self) -> bool:
        return self.released_at is None

    @property
    def is_subject_hold(self) -> bool:
        return bool(self.external_id)

    @property
    def scope_label(self) -> str:
        if not self.is_subject_hold:
            return f"dataset {self.dataset.slug}"
        where = self.dataset.slug if self.dataset_id else "every dataset"
        return f"subject {self.namespace}:{self.external_id} in {where}"


class ErasureRequest(models.Model):
    """A data subject's request for erasure (GDPR Art. 17), answered within one month of
    receipt, extendable by two further months with a reason (Art. 12(3)).

    While open, the request keeps the subject's id (the runs need it). Once closed (completed
    or rejected) it keeps only ``subject_hmac``, a keyed hash (``consent.identifiers.
    subject_digest``), as the ledger keeps only a hash: ``save`` replaces the id whatever
    closed it, and the database refuses a closed request with an id in clear."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        COMPLETED = "completed", "Completed"
        REJECTED = "rejected", "Rejected (exemption applies)"

    namespace = models.CharField(max_length=64, default=DEFAULT_NAMESPACE)
    external_id = models.CharField(max_length=128)
    received_on = models.DateField()
    due_on = models.DateField()
    extended = models.BooleanField(default=False)
    extension_reason = models.TextField(blank=True, default="")
    reference = models.CharField(max_length=200, blank=True, default="")
    note = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    datasets = models.ManyToManyField(
        "datasets.Dataset", through="ErasureTarget", related_name="erasure_requests"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    rejection_reason = models.TextField(blank=True, default="")
    subject_hmac = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="Keyed hash of namespace:id, kept instead of the id once the request is closed.",
    )

    class Meta:
        ordering = ["status", "due_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="open") | (Q(external_id="") & ~Q(subject_hmac="")),
                name="retention_erasure_closed_keeps_only_a_keyed_hash",
            ),
            models.CheckConstraint(
                condition=Q(due_on__gte=models.F("received_on")),
                name="retention_erasure_due_after_receipt",
            ),
            models.CheckConstraint(
                condition=Q(extended=False) | ~Q(extension_reason=""),
                name="retention_erasure_extension_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(rejection_reason=""),
                name="retention_erasure_rejection_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"erasure request {self.pk}"

    def save(self, *args, **kwargs):
        if self.status != self.Status.OPEN and self.external_id:
            from consent.identifiers import subject_digest

            self.subject_hmac = subject_digest(self.namespace, self.external_id)
            self.external_id = ""
            fields = kwargs.get("update_fields")
            if fields is not None:
                kwargs["update_fields"] = {*fields, "external_id", "subject_hmac"}
        super().save(*args, **kwargs)

    @property
    def subject_label(self) -> str:
        if not self.external_id:
            return f"{self.namespace}:(erased)"
        return f"{self.namespace}:{self.external_id}"

    def days_left(self, today=None) -> int:
        today = today or timezone.now().date()
        return (self.due_on - today).days

    @property
    def is_overdue(self) -> bool:
        return self.status == self.Status.OPEN and self.days_left() < 0


class RetentionRun(models.Model):
    class Kind(models.TextChoices):
        RETENTION = "retention", "Retention (age, expiry and erasures)"
        ERASURE = "erasure", "Erasure (withdrawn and requested subjects)"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Started by a person"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        HELD = "held", "Stopped by a legal hold"

    dataset = models.ForeignKey(
        "datasets.Dataset", on_delete=models.PROTECT, related_name="retention_runs"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    plan = models.JSONField(
        default=dict, help_text="The criteria fixed at creation (never the subject ids)."
    )
    # The subject ids the run erases, kept only while it is unfinished (to resume it); the
    # certificate keeps their count and hash.
    subject_ids = models.JSONField(default=list, blank=True)
    held_subject_ids = models.JSONField(default=list, blank=True)
    subjects_count = models.PositiveIntegerField(default=0)
    subjects_sha256 = models.CharField(max_length=64, blank=True, default="")
    erasure_request_ids = models.JSONField(default=list, blank=True)
    rows_deleted = models.PositiveBigIntegerField(default=0)
    rows_anonymized = models.PositiveBigIntegerField(default=0)
    files_deleted = models.PositiveIntegerField(default=0)
    batches_done = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    error_code = models.CharField(max_length=32, blank=True, default="")
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # The lock two schedulers meet on: one unfinished run per dataset.
            models.UniqueConstraint(
                fields=["dataset"],
                condition=Q(status__in=ACTIVE_RUN_STATUSES),
                name="retention_one_active_run_per_dataset",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "succeeded", "failed", "held"]),
                name="retention_run_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.dataset_id}"

    @property
    def is_finished(self) -> bool:
        return self.status not in ACTIVE_RUN_STATUSES


class RunBatch(models.Model):
    """The journal: one row per batch, written before the connector applies it."""

    class State(models.TextChoices):
        PENDING = "pending", "Journaled, not known to be applied"
        DONE = "done", "Applied"
        DISCARDED = "discarded", "Not applied (planned again)"

    run = models.ForeignKey(RetentionRun, on_delete=models.PROTECT, related_name="batches")
    seq = models.PositiveIntegerField()
    operation = models.CharField(max_length=16)
    payload = models.JSONField()
    rows_planned = models.PositiveIntegerField()
    files_planned = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    rows_done = models.PositiveIntegerField(default=0)
    files_done = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["run", "seq"], name="retention_batch_seq"),
        ]

    def __str__(self) -> str:
        return f"batch {self.seq} of run {self.run_id}"


class DeletionCertificate(models.Model):
    """What a run deleted, how it was verified, signed into the ledger. Append-only."""

    run = models.OneToOneField(RetentionRun, on_delete=models.PROTECT, related_name="certificate")
    dataset = models.ForeignKey(
        "datasets.Dataset", on_delete=models.PROTECT, related_name="deletion_certificates"
    )
    document = models.JSONField()
    sha256 = models.CharField(max_length=64)
    issued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-issued_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(sha256__regex=r"^[0-9a-f]{64}$"),
                name="retention_certificate_sha256",
            ),
        ]

    def __str__(self) -> str:
        return f"certificate {self.pk}"


class ErasureTarget(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for the next run"
        ERASED = "erased", "Erased"
        HELD = "held", "On legal hold"

    request = models.ForeignKey(ErasureRequest, on_delete=models.PROTECT, related_name="targets")
    dataset = models.ForeignKey("datasets.Dataset", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    run = models.ForeignKey(
        RetentionRun, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["request", "dataset"]
        constraints = [
            models.UniqueConstraint(fields=["request", "dataset"], name="retention_target_once"),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} → {self.dataset_id}"

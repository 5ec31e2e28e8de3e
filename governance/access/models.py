"""Access governance: which purposes a dataset may serve, who asked for access, who was
granted what until when, who acknowledged the terms, and who holds current privacy training."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q
from django.utils import timezone


class PurposeApproval(models.Model):
    """A privacy officer's decision that a dataset may serve a purpose."""

    dataset = models.ForeignKey(
        "datasets.Dataset", on_delete=models.PROTECT, related_name="purpose_approvals"
    )
    purpose = models.ForeignKey(
        "consent.Purpose",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The purpose version in force when approved.",
    )
    purpose_slug = models.SlugField(max_length=64)
    note = models.TextField(blank=True, default="")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    revoked_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["dataset", "purpose_slug", "-approved_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "purpose_slug"],
                condition=Q(revoked_at__isnull=True),
                name="access_one_live_approval_per_dataset_purpose",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dataset_id} may serve {self.purpose_slug}"


class TrainingAttestation(models.Model):
    """A person completed privacy training; needed for grants on restricted data."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="training_attestations"
    )
    course = models.CharField(max_length=200)
    completed_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    evidence = models.CharField(max_length=500, blank=True, default="")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["user", "-expires_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("completed_at")),
                name="access_training_expires_after_completion",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.course} until {self.expires_at:%Y-%m-%d}"


def _one_principal() -> Q:
    return Q(principal_user__isnull=False, principal_group__isnull=True) | Q(
        principal_user__isnull=True, principal_group__isnull=False
    )


class AccessRequest(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for approval"
        APPROVED = "approved", "Approved"
        DENIED = "denied", "Denied"
        WITHDRAWN = "withdrawn", "Withdrawn"

    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="access_requests"
    )
    principal_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    principal_group = models.ForeignKey(
        Group, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    dataset = models.ForeignKey(
        "datasets.Dataset", on_delete=models.PROTECT, related_name="access_requests"
    )
    purpose = models.ForeignKey("consent.Purpose", on_delete=models.PROTECT, related_name="+")
    purpose_slug = models.SlugField(max_length=64)
    fields = models.JSONField(default=list)
    duration_days = models.PositiveIntegerField()
    justification = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    needs_privacy_officer = models.BooleanField(default=False)
    steward_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    steward_approved_at = models.DateTimeField(null=True, blank=True)
    steward_note = models.TextField(blank=True, default="")
    privacy_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    privacy_approved_at = models.DateTimeField(null=True, blank=True)
    privacy_note = models.TextField(blank=True, default="")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    # A client's retry of one creation carries the same Idempotency-Key; the fingerprint is the
    # sha256 of the normalized body, so the same key with another body is told apart.
    idempotency_key = models.CharField(max_length=200, blank=True, default="")
    request_fingerprint = models.CharField(max_length=64, blank=True, default="")
    renews = models.ForeignKey(
        "Grant",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="renewals",
        help_text="The grant this request renews: its conditions carry over to the new grant.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=_one_principal(), name="access_request_one_principal"),
            models.UniqueConstraint(
                fields=["requester", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="access_request_idempotency_key_once",
            ),
            models.CheckConstraint(
                condition=Q(duration_days__gte=1), name="access_request_duration_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"request {self.pk} for {self.dataset_id}/{self.purpose_slug}"


class RequestComment(models.Model):
    request = models.ForeignKey(AccessRequest, on_delete=models.PROTECT, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"comment {self.pk} on request {self.request_id}"


class Grant(models.Model):
    """Time-limited access of one principal (person, role or service account) to some fields of
    a dataset for one purpose. ``expires_at`` is always set."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"

    principal_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="grants",
        null=True,
        blank=True,
    )
    principal_group = models.ForeignKey(
        Group, on_delete=models.PROTECT, related_name="grants", null=True, blank=True
    )
    dataset = models.ForeignKey("datasets.Dataset", on_delete=models.PROTECT, related_name="grants")
    purpose = models.ForeignKey("consent.Purpose", on_delete=models.PROTECT, related_name="+")
    purpose_slug = models.SlugField(max_length=64)
    fields = models.JSONField(default=list)
    starts_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    request = models.OneToOneField(
        AccessRequest, on_delete=models.PROTECT, null=True, blank=True, related_name="grant"
    )
    direct = models.BooleanField(
        default=False, help_text="Granted by an administrator without a request."
    )
    direct_reason = models.TextField(blank=True, default="")
    conditions = models.JSONField(
        default=list,
        blank=True,
        help_text="The approvers' notes, each {as, by, note}: conditions of use shown with the "
        "grant's terms.",
    )
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    revoked_reason = models.TextField(blank=True, default="")
    expired_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["dataset", "purpose_slug", "status"]),
            models.Index(fields=["status", "expires_at"]),
        ]
        constraints = [
            models.CheckConstraint(condition=_one_principal(), name="access_grant_one_principal"),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("starts_at")),
                name="access_grant_expires_after_start",
            ),
            models.CheckConstraint(
                condition=~Q(status="revoked") | Q(revoked_at__isnull=False),
                name="access_grant_revoked_has_time",
            ),
            models.CheckConstraint(
                condition=Q(direct=False, request__isnull=False)
                | Q(direct=True, request__isnull=True),
                name="access_grant_from_request_or_direct",
            ),
        ]

    def __str__(self) -> str:
        return f"grant {self.pk}: {self.dataset_id}/{self.purpose_slug}"

    @property
    def state(self) -> str:
        """The status now (``access.policy.grant_state``: expired once past expires_at)."""
        from governance.access.policy import grant_state

        return grant_state(self)

    @property
    def state_display(self) -> str:
        return self.Status(self.state).label


class Acknowledgement(models.Model):
    """A person accepted the terms of a grant's purpose (text and version as shown)."""

    grant = models.ForeignKey(Grant, on_delete=models.PROTECT, related_name="acknowledgements")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    terms_version = models.CharField(max_length=100)
    terms_text = models.TextField()
    terms_sha256 = models.CharField(max_length=64)
    acknowledged_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["grant", "-acknowledged_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["grant", "user", "terms_version"], name="access_ack_once_per_terms"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} acknowledged grant {self.grant_id}"


class Alert(models.Model):
    """Something unusual the alert scan saw in the ledger (governance/access/alerts.py): one per
    rule, principal, dataset, signal key and window, so re-running the scan never raises it
    twice and one signal (a large export) is never absorbed by another (a count of exports)."""

    class Rule(models.TextChoices):
        RATE_SPIKE = "rate_spike", "Decision rate spike"
        REPEATED_DENIALS = "repeated_denials", "Repeated denials"
        RESTRICTED_OFF_HOURS = "restricted_off_hours", "Restricted data outside hours"
        BULK_EXPORT = "bulk_export", "Many exports"
        LARGE_EXPORT = "large_export", "Large export"
        FAILED_AUTHENTICATION = "failed_authentication", "Failed authentications"
        NEW_DATASETS = "new_datasets", "Many datasets never read before"

    class Severity(models.TextChoices):
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"

    class Outcome(models.TextChoices):
        EXPECTED = "expected", "Expected activity (explained)"
        FALSE_POSITIVE = "false_positive", "False positive (the rule misfired)"
        INCIDENT = "incident", "Incident (misuse confirmed or suspected, escalated)"
        NOT_RECORDED = "not_recorded", "Not recorded (acknowledged before outcomes were kept)"

    rule = models.CharField(max_length=32, choices=Rule.choices)
    principal = models.CharField(
        max_length=200, help_text='Who did it, as the ledger names them: "user:bob".'
    )
    dataset = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="The dataset's slug; blank when the alert is about the principal overall.",
    )
    key = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="What tells this signal from others of the same rule, principal, dataset and "
        'window (e.g. "entry:812" for one large export); blank for most rules.',
    )
    severity = models.CharField(max_length=16, choices=Severity.choices)
    summary = models.TextField(help_text="What was seen, in one sentence.")
    details = models.JSONField(default=dict, blank=True)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=32, choices=Outcome.choices, blank=True, default="")
    outcome_note = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "principal", "dataset", "key", "window_start"],
                name="access_alert_once_per_signal_and_window",
            ),
            models.CheckConstraint(
                condition=Q(window_end__gt=models.F("window_start")),
                name="access_alert_window_not_empty",
            ),
            models.CheckConstraint(
                condition=Q(acknowledged_at__isnull=True, acknowledged_by__isnull=True)
                | Q(acknowledged_at__isnull=False),
                name="access_alert_acknowledged_with_time",
            ),
            models.CheckConstraint(
                condition=Q(acknowledged_at__isnull=True, outcome="")
                | (Q(acknowledged_at__isnull=False) & ~Q(outcome="")),
                name="access_alert_acknowledged_with_outcome",
            ),
        ]
        indexes = [models.Index(fields=["acknowledged_at", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.rule} {self.principal} {self.dataset}".strip()


# --- Training jobs: pseudonymization secrets and privacy budgets -------------------------------


class PurposeKey(models.Model):
    """One version of a purpose's pseudonymization secret (32 random bytes), encrypted at rest
    under a master key from settings (AES-256-GCM, the purpose and version as associated
    data, so a row copied onto another purpose does not decrypt). Tokens made with it are
    HMAC-SHA256 of the value: stable within the purpose and version, unrelated across
    purposes (governance/access/pseudonyms.py)."""

    purpose_slug = models.SlugField(max_length=64)
    version = models.PositiveIntegerField()
    master_kid = models.CharField(max_length=64, help_text="The master key that encrypts it.")
    ciphertext = models.BinaryField(help_text="nonce (12 bytes) || AES-GCM ciphertext and tag")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    superseded_at = models.DateTimeField(
        null=True, blank=True, help_text="When the next version took over."
    )

    class Meta:
        ordering = ["purpose_slug", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["purpose_slug", "version"], name="access_purpose_key_version"
            ),
            models.UniqueConstraint(
                fields=["purpose_slug"],
                condition=Q(superseded_at__isnull=True),
                name="access_purpose_key_one_current",
            ),
            models.CheckConstraint(
                condition=Q(version__gte=1), name="access_purpose_key_version_gte_1"
            ),
        ]

    def __str__(self) -> str:
        return f"pseudonymization key {self.purpose_slug} v{self.version}"


class BudgetRequirement(models.Model):
    """A dataset (or a dataset for one purpose) may only be read under differential privacy,
    with a total budget per data block: ``epsilon`` (and ``delta``; 0 is pure ε-DP) that the
    claims reading a block may spend together, under basic sequential composition (the ε and
    the δ of the claims add up). With ``block_days``, each block holds the data whose event
    time falls in one period from ``starts_at``; a new period's data brings a new block with
    its own budget (as in Sage). Without, the dataset is one block."""

    dataset = models.ForeignKey(
        "datasets.Dataset", on_delete=models.PROTECT, related_name="budget_requirements"
    )
    purpose_slug = models.SlugField(
        max_length=64, blank=True, default="", help_text="Empty: every purpose shares it."
    )
    epsilon = models.DecimalField(max_digits=12, decimal_places=6)
    delta = models.DecimalField(max_digits=20, decimal_places=18, default=0)
    block_days = models.PositiveIntegerField(null=True, blank=True)
    starts_at = models.DateTimeField(default=timezone.now)
    lock_seconds = models.PositiveIntegerField(default=3600)
    note = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    class Meta:
        ordering = ["dataset", "purpose_slug", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset"],
                condition=Q(retired_at__isnull=True),
                name="access_budget_one_live_requirement_per_dataset",
            ),
            models.CheckConstraint(condition=Q(epsilon__gt=0), name="access_budget_epsilon_gt_0"),
            models.CheckConstraint(
                condition=Q(delta__gte=0, delta__lt=1), name="access_budget_delta_in_0_1"
            ),
            models.CheckConstraint(
                condition=Q(block_days__isnull=True) | Q(block_days__gte=1),
                name="access_budget_block_days_gte_1",
            ),
            models.CheckConstraint(
                condition=Q(lock_seconds__gte=10), name="access_budget_lock_seconds_gte_10"
            ),
        ]

    def __str__(self) -> str:
        scope = f" for {self.purpose_slug}" if self.purpose_slug else ""
        return f"privacy budget of {self.dataset_id}{scope}: epsilon {self.epsilon}"


class BudgetClaim(models.Model):
    """A job's share of a privacy budget: acquired (locked: counted as spent until it is
    committed, released, or its lock expires), then committed (spent for good) or released
    (returned). ``blocks`` are the data blocks it reads; it is charged on each."""

    class Status(models.TextChoices):
        LOCKED = "locked", "Locked"
        COMMITTED = "committed", "Committed (spent)"
        RELEASED = "released", "Released"
        EXPIRED = "expired", "Lock expired (returned)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requirement = models.ForeignKey(
        BudgetRequirement, on_delete=models.PROTECT, related_name="claims"
    )
    dataset = models.ForeignKey("datasets.Dataset", on_delete=models.PROTECT, related_name="+")
    purpose_slug = models.SlugField(max_length=64)
    principal = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="budget_claims"
    )
    epsilon = models.DecimalField(max_digits=12, decimal_places=6)
    delta = models.DecimalField(max_digits=20, decimal_places=18, default=0)
    blocks = models.JSONField(default=list, help_text="Indexes of the data blocks it reads.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.LOCKED)
    decision_id = models.CharField(max_length=64, blank=True, default="")
    note = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    lock_expires_at = models.DateTimeField()
    committed_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "lock_expires_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(epsilon__gt=0), name="access_claim_epsilon_gt_0"),
            models.CheckConstraint(
                condition=Q(delta__gte=0, delta__lt=1), name="access_claim_delta_in_0_1"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["locked", "committed", "released", "expired"]),
                name="access_claim_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status="committed") | Q(committed_at__isnull=False),
                name="access_claim_committed_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"budget claim {self.pk} ({self.status})"

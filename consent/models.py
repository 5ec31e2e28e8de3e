"""Purposes, privacy notices, subjects, consent events (append-only) and the current state.

Each ``Purpose`` row is one *version* of a purpose (slug + version): a purpose in use is never
edited in place; a change is a new version, which needs its own activation by a privacy officer
and its own consent (consent is specific to what the subject was told). ``ConsentEvent`` is the
append-only history (the database refuses UPDATE/DELETE/TRUNCATE); ``ConsentState`` is derived
from it in the same transaction, one row per (subject, purpose). Questions about the past
(``as_of``) read the history. See docs/adr/0004-consent-state-and-history.md.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from consent.vocab import (
    CONSENT_STATUS_DPV,
    LEGAL_BASIS_DPV,
    LEGAL_BASIS_GDPR,
    CollectionMethod,
    ConsentStatus,
    LegalBasis,
    SpecialCategoryCondition,
)

MAX_CONSENT_VALIDITY_MONTHS = 120


class Purpose(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Awaiting activation"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    slug = models.SlugField(max_length=64)
    version = models.PositiveIntegerField(default=1)
    name = models.CharField(max_length=200)
    description = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    legal_basis = models.CharField(max_length=32, choices=LegalBasis.choices)
    special_categories = models.BooleanField(
        default=False, help_text="Processes special categories of data (GDPR Art. 9(1))."
    )
    special_category_condition = models.CharField(
        max_length=32, choices=SpecialCategoryCondition.choices, blank=True, default=""
    )
    data_categories = models.JSONField(
        default=list, blank=True, help_text="Catalog taxonomy keys, e.g. user.behavior."
    )
    data_subject_categories = models.JSONField(default=list, blank=True)
    recipients = models.JSONField(default=list, blank=True)
    retention_days = models.PositiveIntegerField()
    dpia_reference = models.CharField(max_length=200, blank=True, default="")
    controller = models.CharField(max_length=200)
    controller_contact = models.CharField(max_length=254)
    withdrawal_method = models.TextField(blank=True, default="")
    consent_validity_months = models.PositiveSmallIntegerField(null=True, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    previous = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    editors = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        help_text="Everyone who changed this version as a draft: none of them activates it.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    activation_note = models.TextField(
        blank=True, default="", help_text="The privacy officer's note with the legal sign-off."
    )
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    retired_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["slug", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["slug", "version"], name="consent_purpose_slug_version"
            ),
            models.UniqueConstraint(
                fields=["slug"], condition=Q(status="active"), name="consent_purpose_one_active"
            ),
            models.UniqueConstraint(
                fields=["slug"],
                condition=Q(status__in=["draft", "submitted"]),
                name="consent_purpose_one_open_version",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "submitted", "active", "retired"]),
                name="consent_purpose_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(legal_basis__in=LegalBasis.values), name="consent_purpose_basis_valid"
            ),
            models.CheckConstraint(
                condition=(
                    Q(
                        legal_basis="consent",
                        consent_validity_months__gte=1,
                        consent_validity_months__lte=MAX_CONSENT_VALIDITY_MONTHS,
                    )
                    | (~Q(legal_basis="consent") & Q(consent_validity_months__isnull=True))
                ),
                name="consent_purpose_validity_only_for_consent",
            ),
            models.CheckConstraint(
                condition=(
                    Q(special_categories=True) & ~Q(special_category_condition="")
                    | Q(special_categories=False, special_category_condition="")
                ),
                name="consent_purpose_special_categories_need_condition",
            ),
            models.CheckConstraint(
                condition=Q(version__gte=1), name="consent_purpose_version_gte_1"
            ),
            models.CheckConstraint(
                condition=Q(retention_days__gte=1), name="consent_purpose_retention_gte_1"
            ),
            models.CheckConstraint(
                condition=~Q(status="active") | Q(activated_at__isnull=False),
                name="consent_purpose_active_has_activation",
            ),
            models.CheckConstraint(
                condition=~Q(status="retired") | Q(retired_at__isnull=False),
                name="consent_purpose_retired_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.slug} v{self.version}"

    @property
    def is_consent_based(self) -> bool:
        return self.legal_basis == LegalBasis.CONSENT

    @property
    def legal_basis_iri(self) -> str:
        return LEGAL_BASIS_DPV[LegalBasis(self.legal_basis)]

    @property
    def legal_basis_gdpr_iri(self) -> str:
        return LEGAL_BASIS_GDPR[LegalBasis(self.legal_basis)]

    def in_force_at(self, moment) -> bool:
        return (
            self.activated_at is not None
            and self.activated_at <= moment
            and (self.retired_at is None or self.retired_at > moment)
        )


class NoticeVersion(models.Model):
    """A privacy notice as shown to subjects. Append-only: a correction is a new version."""

    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="notices")
    version = models.PositiveIntegerField()
    language = models.CharField(max_length=16, default="en")
    text = models.TextField(blank=True, default="")
    url = models.URLField(max_length=500, blank=True, default="")
    content_hash = models.CharField(
        max_length=64, help_text="SHA-256 (hex) of the notice text or of the document at the URL."
    )
    effective_from = models.DateTimeField()
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["purpose", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["purpose", "version"], name="consent_notice_version"),
            models.CheckConstraint(
                condition=~Q(text="") | ~Q(url=""), name="consent_notice_text_or_url"
            ),
            models.CheckConstraint(
                condition=Q(content_hash__regex=r"^[0-9a-f]{64}$"),
                name="consent_notice_hash_is_sha256",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} notice {self.version}"


class Subject(models.Model):
    """A data subject as the source system knows them: a pseudonymous id in a namespace."""

    namespace = models.CharField(max_length=64)
    external_id = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["namespace", "external_id"]
        constraints = [
            models.UniqueConstraint(fields=["namespace", "external_id"], name="consent_subject_id"),
            # The formats the services check, kept by the database too: exports write ids
            # without escaping, and no id with an @ (an email address) can get in by any path.
            # (Lengths are bounded by the columns; a bounded repetition in the pattern would
            # make PostgreSQL's regex engine several times slower on bulk loads.)
            models.CheckConstraint(
                condition=Q(namespace__regex=r"^[a-z0-9][a-z0-9_.-]*$"),
                name="consent_subject_namespace_format",
            ),
            models.CheckConstraint(
                condition=Q(external_id__regex=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"),
                name="consent_subject_external_id_format",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.namespace}:{self.external_id}"


class ConsentEvent(models.Model):
    """One thing a subject (or the controller) did about consent for one purpose version.

    Append-only (migration 0002 installs the triggers). ``valid_until`` is computed once, when
    the event is recorded, from the purpose's validity period and the source's ``expires_at``:
    consent lapses at that moment without anyone writing an event."""

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="events")
    purpose = models.ForeignKey(
        Purpose, on_delete=models.PROTECT, related_name="events", db_index=False
    )
    # No index of their own: notices and users are never deleted (PROTECT is a formality), and
    # idempotency lookups use the (recorded_by, idempotency_key) unique index.
    notice = models.ForeignKey(
        NoticeVersion,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    status = models.CharField(max_length=16, choices=ConsentStatus.choices)
    occurred_at = models.DateTimeField(help_text="When the subject (or controller) acted.")
    recorded_at = models.DateTimeField(help_text="When the registry learned of it.")
    expires_at = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    collection_method = models.CharField(max_length=32, choices=CollectionMethod.choices)
    evidence = models.JSONField(default=dict, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    idempotency_key = models.CharField(max_length=128, null=True, blank=True)
    fingerprint = models.CharField(
        max_length=64, help_text="SHA-256 of the request as submitted, to recognise replays."
    )

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [
            # The history read of as_of questions: latest event per subject for one purpose.
            models.Index(
                fields=["purpose", "subject", "-occurred_at", "-id"], name="consent_event_history"
            ),
            # "Did the answer change since this snapshot?" (history.answer_unchanged): events
            # recorded after a moment, and consent running out in a window, per purpose.
            models.Index(fields=["purpose", "recorded_at"], name="consent_event_recorded"),
            models.Index(
                fields=["purpose", "valid_until"],
                name="consent_event_valid_until",
                condition=Q(valid_until__isnull=False),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["recorded_by", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="consent_event_idempotency_key_per_source",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ConsentStatus.values), name="consent_event_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["given", "renewed"]) | Q(valid_until__isnull=True),
                name="consent_event_validity_only_when_given",
            ),
        ]
        permissions = [
            ("query_consent", "Can filter and export subjects with valid consent"),
        ]

    def __str__(self) -> str:
        return f"{self.status} #{self.pk}"

    @property
    def status_iri(self) -> str:
        return CONSENT_STATUS_DPV[ConsentStatus(self.status)]


class ConsentState(models.Model):
    """The latest event (by occurred_at, then by recording order) per subject and purpose."""

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="states")
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="states")
    event = models.ForeignKey(ConsentEvent, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=ConsentStatus.choices)
    occurred_at = models.DateTimeField()
    valid_until = models.DateTimeField(null=True, blank=True)
    record_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["subject", "purpose"]
        indexes = [models.Index(fields=["purpose", "status"], name="consent_state_purpose_status")]
        constraints = [
            models.UniqueConstraint(
                fields=["subject", "purpose"], name="consent_state_per_purpose"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} / {self.purpose}: {self.status}"

    def effective_status(self, at=None) -> str:
        """The status, except that consent past ``valid_until`` reads as expired
        (consent.policy.effective_status)."""
        from consent import policy

        return policy.effective_status(
            status=self.status, valid_until=self.valid_until, at=at or timezone.now()
        )

    def is_valid(self, at=None) -> bool:
        from consent import policy

        return policy.is_valid_at(
            status=self.status, valid_until=self.valid_until, at=at or timezone.now()
        )


class ConsentSnapshot(models.Model):
    """Names one answer of the filter or the export, so that a training job can later prove
    which subject set it used: the question (purpose version, as_of, known_at, namespace), the
    number of ids and the SHA-256 of the sorted ids. ``known_at`` is the moment the answer was
    computed; asking again with the same as_of and known_at reproduces the same set."""

    class Kind(models.TextChoices):
        FILTER = "filter", "Filter"
        EXPORT = "export", "Export"
        DECISION = "decision", "Access decision"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="snapshots")
    namespace = models.CharField(max_length=64, blank=True, default="")
    as_of = models.DateTimeField()
    known_at = models.DateTimeField()
    requested_count = models.PositiveIntegerField(null=True, blank=True)
    requested_sha256 = models.CharField(max_length=64, blank=True, default="")
    count = models.PositiveIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    basis = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The snapshot whose question this answer repeated (a filter or export asked "
        "at an access decision's snapshot).",
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The check reuses the latest decision snapshot of a purpose version and namespace.
            models.Index(
                fields=["purpose", "namespace", "-created_at"],
                name="consent_snapshot_decision",
                condition=Q(kind="decision"),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["filter", "export", "decision"]),
                name="consent_snapshot_kind_valid",
            ),
            models.CheckConstraint(
                condition=~Q(kind="decision") | ~Q(namespace=""),
                name="consent_snapshot_decision_has_namespace",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"

    @property
    def is_complete(self) -> bool:
        return self.completed_at is not None

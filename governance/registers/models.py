"""The registers an auditor asks for beside the Art. 30 records: processors and other
recipients (with their contracts), transfers to third countries (with their Art. 46
safeguard), data protection impact assessments, legitimate-interest assessments, personal-data
breaches (with the 72-hour clock of Art. 33), and per purpose what the controller records
about it (security measures; a confirmed absence of transfers or recipients).

Purposes are linked by their rows in the consent registry (any version counts for the purpose's
slug); datasets by the catalog's rows. Writes go through governance/registers/services.py,
which validates, records a ledger event and refuses with one (docs/registers.md)."""

from __future__ import annotations

import math
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

AUTHORITY_DEADLINE = timedelta(hours=72)
ISO_COUNTRY = r"^[A-Z]{2}$"
# EU member states and the other EEA states: a transfer there is no transfer to a third country.
EEA = frozenset(
    (
        *("AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE"),
        *("IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"),
        *("IS", "LI", "NO"),
    )
)


class Tracked(models.Model):
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True

    def purpose_slugs(self) -> list[str]:
        return sorted({p.slug for p in self.purposes.all()})

    def dataset_slugs(self) -> list[str]:
        return sorted({d.slug for d in self.datasets.all()})


class Recipient(Tracked):
    """Someone personal data is disclosed to (Art. 30(1)(d)): a processor or sub-processor
    (Art. 28, with its contract), another controller, a joint controller, an authority."""

    class Role(models.TextChoices):
        PROCESSOR = "processor", "Processor"
        SUB_PROCESSOR = "sub_processor", "Sub-processor"
        CONTROLLER = "controller", "Controller"
        JOINT_CONTROLLER = "joint_controller", "Joint controller"
        PUBLIC_AUTHORITY = "public_authority", "Public authority"

    name = models.CharField(max_length=200)
    role = models.CharField(max_length=32, choices=Role.choices)
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="sub_processors",
        help_text="For a sub-processor: the processor it works for.",
    )
    country = models.CharField(max_length=2, help_text="ISO 3166-1 code, e.g. IE or US.")
    contact = models.CharField(max_length=300, blank=True, default="")
    contract_reference = models.CharField(
        max_length=200, blank=True, default="", help_text="The Art. 28(3) contract or DPA."
    )
    contract_signed_on = models.DateField(null=True, blank=True)
    contract_review_on = models.DateField(null=True, blank=True)
    security_measures = models.TextField(
        blank=True, default="", help_text="The recipient's technical and organisational measures."
    )
    purposes = models.ManyToManyField("consent.Purpose", blank=True, related_name="+")
    notes = models.TextField(blank=True, default="")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(country__regex=ISO_COUNTRY), name="registers_recipient_country_iso"
            ),
            models.CheckConstraint(
                condition=~Q(role="sub_processor") | Q(parent__isnull=False),
                name="registers_sub_processor_has_parent",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def role_phrase(self) -> str:
        if self.role == self.Role.SUB_PROCESSOR and self.parent_id:
            return f"sub-processor of {self.parent.name}"
        return self.get_role_display().lower()


class Transfer(Tracked):
    """A transfer of personal data to a third country (Art. 30(1)(e), Chapter V) and the
    safeguard it relies on."""

    class Safeguard(models.TextChoices):
        ADEQUACY = "adequacy", "Adequacy decision, Art. 45"
        SCC = "scc", "Standard contractual clauses, Art. 46(2)(c)"
        BCR = "bcr", "Binding corporate rules, Art. 46(2)(b)"
        PUBLIC_INSTRUMENT = (
            "public_instrument",
            "Instrument between public authorities, Art. 46(2)(a)",
        )
        CODE_OF_CONDUCT = "code_of_conduct", "Approved code of conduct, Art. 46(2)(e)"
        CERTIFICATION = "certification", "Approved certification, Art. 46(2)(f)"
        AD_HOC = "ad_hoc", "Clauses authorised by the supervisory authority, Art. 46(3)(a)"
        DEROGATION = "derogation", "Derogation for a specific situation, Art. 49"

    recipient = models.ForeignKey(Recipient, on_delete=models.PROTECT, related_name="transfers")
    country = models.CharField(max_length=2, help_text="ISO 3166-1 code of the destination.")
    safeguard = models.CharField(max_length=32, choices=Safeguard.choices)
    safeguard_reference = models.CharField(max_length=300, blank=True, default="")
    derogation_reason = models.TextField(
        blank=True, default="", help_text="Which Art. 49(1) derogation applies, and why."
    )
    tia_completed_on = models.DateField(
        null=True, blank=True, help_text="When the transfer impact assessment was completed."
    )
    purposes = models.ManyToManyField("consent.Purpose", blank=True, related_name="+")
    data_categories = models.TextField(blank=True, default="")
    started_on = models.DateField(null=True, blank=True)
    ended_on = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["country", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(country__regex=ISO_COUNTRY), name="registers_transfer_country_iso"
            ),
            models.CheckConstraint(
                condition=~Q(safeguard="derogation") | ~Q(derogation_reason=""),
                name="registers_derogation_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"transfer to {self.country} ({self.recipient_id})"


class Dpia(Tracked):
    """A data protection impact assessment (Art. 35) and its outcome."""

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"
        SUPERSEDED = "superseded", "Superseded"

    class Risk(models.TextChoices):
        NOT_ASSESSED = "not_assessed", "Not assessed yet"
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"

    reference = models.CharField(max_length=100, unique=True)
    title = models.CharField(max_length=300)
    purposes = models.ManyToManyField("consent.Purpose", blank=True, related_name="+")
    datasets = models.ManyToManyField("datasets.Dataset", blank=True, related_name="dpias")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PLANNED)
    residual_risk = models.CharField(max_length=16, choices=Risk.choices, default=Risk.NOT_ASSESSED)
    prior_consultation = models.BooleanField(
        default=False, help_text="The supervisory authority was consulted (Art. 36)."
    )
    dpo_advice = models.TextField(blank=True, default="")
    summary = models.TextField(blank=True, default="")
    completed_on = models.DateField(null=True, blank=True)
    review_on = models.DateField(null=True, blank=True)
    document_url = models.URLField(blank=True, default="")

    class Meta:
        ordering = ["reference"]
        verbose_name = "DPIA"
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="completed")
                | (Q(completed_on__isnull=False) & Q(review_on__isnull=False)),
                name="registers_dpia_completed_has_dates",
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def review_overdue(self) -> bool:
        return (
            self.status == self.Status.COMPLETED
            and self.review_on is not None
            and self.review_on < timezone.now().date()
        )


class LegitimateInterestAssessment(Tracked):
    """The three-part test behind a purpose whose legal basis is legitimate interests
    (Art. 6(1)(f)): the interest, necessity, and the balance against the subjects' rights."""

    class Outcome(models.TextChoices):
        PASSED = "passed", "Passed: the interest is not overridden"
        FAILED = "failed", "Failed: another basis is needed"

    purpose = models.ForeignKey("consent.Purpose", on_delete=models.PROTECT, related_name="+")
    reference = models.CharField(max_length=100, unique=True)
    interest = models.TextField()
    necessity = models.TextField()
    balancing = models.TextField()
    safeguards = models.TextField(blank=True, default="")
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    assessed_on = models.DateField()
    review_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["reference"]
        verbose_name = "legitimate-interest assessment"

    def __str__(self) -> str:
        return self.reference

    def purpose_slugs(self) -> list[str]:
        return [self.purpose.slug]


class Breach(Tracked):
    """A personal-data breach (Art. 33(5): facts, effects, remedial action), with the
    72-hour clock to the supervisory authority from when the controller became aware of it,
    and whether the subjects were told (Art. 34) or why not."""

    class Risk(models.TextChoices):
        NO_RISK = "no_risk", "Unlikely to result in a risk"
        RISK = "risk", "A risk to rights and freedoms"
        HIGH_RISK = "high_risk", "A high risk to rights and freedoms"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    reference = models.CharField(max_length=100, unique=True)
    title = models.CharField(max_length=300)
    description = models.TextField()
    became_aware_at = models.DateTimeField()
    occurred_from = models.DateTimeField(null=True, blank=True)
    occurred_until = models.DateTimeField(null=True, blank=True)
    confidentiality = models.BooleanField(default=False)
    integrity = models.BooleanField(default=False)
    availability = models.BooleanField(default=False)
    datasets = models.ManyToManyField("datasets.Dataset", blank=True, related_name="breaches")
    data_categories = models.TextField(blank=True, default="")
    subjects_affected = models.PositiveIntegerField(null=True, blank=True)
    records_affected = models.PositiveBigIntegerField(null=True, blank=True)
    likely_consequences = models.TextField(blank=True, default="")
    measures_taken = models.TextField(blank=True, default="")
    risk = models.CharField(max_length=16, choices=Risk.choices)
    authority_notified_at = models.DateTimeField(null=True, blank=True)
    authority_reference = models.CharField(max_length=200, blank=True, default="")
    authority_delay_reason = models.TextField(blank=True, default="")
    not_notified_reason = models.TextField(
        blank=True, default="", help_text="Why the authority was not notified (no risk)."
    )
    subjects_notified_at = models.DateTimeField(null=True, blank=True)
    subjects_not_notified_reason = models.TextField(
        blank=True, default="", help_text="Why the subjects were not told (Art. 34(3))."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-became_aware_at", "-id"]
        verbose_name_plural = "breaches"
        constraints = [
            models.CheckConstraint(
                condition=Q(confidentiality=True) | Q(integrity=True) | Q(availability=True),
                name="registers_breach_has_a_nature",
            ),
            models.CheckConstraint(
                condition=Q(authority_notified_at__isnull=True)
                | Q(authority_notified_at__gte=models.F("became_aware_at")),
                name="registers_breach_notified_after_awareness",
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def authority_deadline(self):
        return self.became_aware_at + AUTHORITY_DEADLINE

    @property
    def authority_notified_late(self) -> bool:
        return (
            self.authority_notified_at is not None
            and self.authority_notified_at > self.authority_deadline
        )

    @property
    def needs_authority(self) -> bool:
        return self.risk != self.Risk.NO_RISK

    def hours_to_deadline(self, now=None) -> int | None:
        """Whole hours left to notify the authority (negative: overdue); None once notified."""
        if self.authority_notified_at is not None:
            return None
        now = now or timezone.now()
        return math.floor((self.authority_deadline - now).total_seconds() / 3600)

    def authority_overdue(self, now=None) -> bool:
        left = self.hours_to_deadline(now)
        return (
            self.status == self.Status.OPEN
            and self.needs_authority
            and left is not None
            and (now or timezone.now()) > self.authority_deadline
        )

    @property
    def nature(self) -> list[str]:
        return [
            name for name in ("confidentiality", "integrity", "availability") if getattr(self, name)
        ]


class ProcessingRecord(models.Model):
    """What the controller records about one purpose for the Art. 30 records beyond the purpose
    itself: its technical and organisational security measures, and a confirmed absence of
    third-country transfers or of recipients (so that "none" is a recorded fact, not a
    default)."""

    purpose_slug = models.CharField(max_length=64, unique=True)
    security_measures = models.TextField(blank=True, default="")
    no_transfers = models.BooleanField(
        default=False, help_text="Recorded: this purpose involves no transfer to a third country."
    )
    no_recipients = models.BooleanField(
        default=False, help_text="Recorded: no recipient outside the controller."
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["purpose_slug"]

    def __str__(self) -> str:
        return f"processing record of {self.purpose_slug}"

    def purpose_slugs(self) -> list[str]:
        return [self.purpose_slug]

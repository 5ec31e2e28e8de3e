"""Subject access requests (GDPR Art. 15): a data subject asks what the controller holds about
them; a privacy officer records the request once the subject's identity is verified, the
registry produces the package, and the request is closed within one month of receipt
(extendable by two further months, Art. 12(3)).

While open, a request keeps the subject's id (the package is read with it). Once closed it
keeps only ``subject_hmac``, a keyed hash (``consent.identifiers.subject_digest``), and the
package file is deleted: the ledger keeps its SHA-256."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from consent.identifiers import DEFAULT_NAMESPACE


class SubjectAccessRequest(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        COMPLETED = "completed", "Answered (package sent)"
        REJECTED = "rejected", "Refused"

    namespace = models.CharField(max_length=64, default=DEFAULT_NAMESPACE)
    external_id = models.CharField(max_length=128, blank=True, default="")
    subject_hmac = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="Keyed hash of namespace:id, kept instead of the id once the request is closed.",
    )
    received_on = models.DateField()
    due_on = models.DateField()
    extended = models.BooleanField(default=False)
    extension_reason = models.TextField(blank=True, default="")
    identity_verification = models.TextField(
        help_text="How the subject's identity was verified before the request was recorded."
    )
    reference = models.CharField(max_length=200, blank=True, default="")
    note = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    rejection_reason = models.TextField(blank=True, default="")
    completion_note = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    package_name = models.CharField(max_length=200, blank=True, default="")
    package_path = models.CharField(max_length=1000, blank=True, default="")
    package_sha256 = models.CharField(max_length=64, blank=True, default="")
    package_size = models.PositiveBigIntegerField(null=True, blank=True)
    package_summary = models.JSONField(default=dict, blank=True)
    produced_at = models.DateTimeField(null=True, blank=True)
    produced_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["status", "due_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="open") | (Q(external_id="") & ~Q(subject_hmac="")),
                name="subject_access_closed_keeps_only_a_keyed_hash",
            ),
            models.CheckConstraint(
                condition=Q(status="open") | Q(package_path=""),
                name="subject_access_closed_keeps_no_package",
            ),
            models.CheckConstraint(
                condition=Q(due_on__gte=models.F("received_on")),
                name="subject_access_due_after_receipt",
            ),
            models.CheckConstraint(
                condition=Q(extended=False) | ~Q(extension_reason=""),
                name="subject_access_extension_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(rejection_reason=""),
                name="subject_access_rejection_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(identity_verification=""),
                name="subject_access_identity_verified",
            ),
        ]

    def __str__(self) -> str:
        return f"subject access request {self.pk}"

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

    def days_left(self, today=None) -> int | None:
        if self.status != self.Status.OPEN:
            return None
        return (self.due_on - (today or timezone.now().date())).days

    @property
    def is_overdue(self) -> bool:
        left = self.days_left()
        return left is not None and left < 0

    @property
    def has_package(self) -> bool:
        return bool(self.package_path)

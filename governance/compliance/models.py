"""One row per requested export; the file itself lives under ``COMPLIANCE_EXPORT_DIR``."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Export(models.Model):
    class Kind(models.TextChoices):
        AUDIT_LOG = "audit_log", "Audit log (CSV, JSON Lines and verifiable bundle)"
        ROPA = "ropa", "Records of Processing Activities (GDPR Art. 30(1))"
        ACCESS_REPORT = "access_report", "Access report (allow/deny decisions)"
        EVIDENCE_PACK = "evidence_pack", "Evidence pack for one dataset"
        REGISTERS = "registers", "Registers (processors, transfers, DPIAs, LIAs, breaches)"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Ready"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    file_path = models.CharField(max_length=1000, blank=True, default="")
    file_name = models.CharField(max_length=200, blank=True, default="")
    size = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    error = models.TextField(blank=True, default="")
    summary = models.JSONField(
        default=dict,
        blank=True,
        help_text="What the builder reported: rows written, warnings (e.g. what the RoPA could "
        "not state because nobody recorded it).",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress__gte=0, progress__lte=100),
                name="compliance_export_progress_0_100",
            ),
            models.CheckConstraint(
                condition=~Q(status="succeeded") | Q(sha256__regex=r"^[0-9a-f]{64}$"),
                name="compliance_export_succeeded_has_sha256",
            ),
        ]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.kind})"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.FAILED}

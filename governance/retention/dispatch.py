"""The scheduler's side: which datasets get a run now, and resuming runs whose worker died.

Two schedulers (two beats, or a beat and a person) meet on the database: a dataset has at most
one queued or running run (a partial unique index), so the loser of a race creates nothing."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from governance.retention import planning, services
from governance.retention import policy as retention_policy
from governance.retention.models import RetentionPolicy, RetentionRun

logger = logging.getLogger(__name__)


def resume_stale() -> list[int]:
    """Re-enqueue runs whose worker stopped beating (crash, SIGKILL, lost message). The
    dataset lock makes this safe even when the original worker is merely slow."""
    from governance.retention.tasks import run_execute_task

    stale = timezone.now() - timedelta(seconds=settings.RETENTION_STALE_SECONDS)
    runs = list(
        RetentionRun.objects.filter(
            Q(status=RetentionRun.Status.RUNNING, heartbeat_at__lt=stale)
            | Q(status=RetentionRun.Status.QUEUED, created_at__lt=stale)
        ).values_list("pk", flat=True)
    )
    for run_id in runs:
        run_execute_task.delay(run_id)
    return runs


def _last_subjects_digest(dataset_id: int) -> str | None:
    return (
        RetentionRun.objects.filter(
            dataset_id=dataset_id,
            status=RetentionRun.Status.SUCCEEDED,
        )
        .order_by("-created_at", "-id")
        .values_list("subjects_sha256", flat=True)
        .first()
    )


def dispatch(*, kind: str) -> dict:
    """Create runs of ``kind`` for the datasets that need one; returns what it did. Only
    approved datasets whose location is their own get runs (``policy.store_refusal``); a
    dataset under a new review waits for it."""
    created, skipped = [], []
    policies = (
        RetentionPolicy.objects.filter(enabled=True)
        .filter(retention_policy.acting_on("dataset__"))
        .select_related("dataset")
    )
    for policy in policies.order_by("dataset__slug"):
        dataset = policy.dataset
        if retention_policy.store_refusal(dataset) is not None:
            skipped.append(dataset.slug)
            continue
        plan = planning.plan_for(dataset)
        if kind == RetentionRun.Kind.ERASURE:
            # Only when subjects are due that the last successful run did not cover: the due
            # set changed, or a due subject's withdrawal became known after that run started
            # (erased, consented again, withdrew again). A dataset on legal hold would only get
            # a held run (and certificate) every hour; the daily retention run records the
            # hold, and the first dispatch after its release erases.
            if not plan.subject_ids or plan.is_held:
                continue
            same_set = planning.subjects_digest(plan.subject_ids) == _last_subjects_digest(
                dataset.pk
            )
            if same_set and not plan.uncovered:
                continue
        with transaction.atomic():
            run = services.run_create(
                dataset=dataset,
                kind=kind,
                trigger=RetentionRun.Trigger.SCHEDULE,
                actor=None,
                plan=plan,
            )
        (created if run else skipped).append(run.pk if run else dataset.slug)
    return {"created": created, "busy": skipped, "resumed": resume_stale()}

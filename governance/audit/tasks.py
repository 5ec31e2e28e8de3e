from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from governance.audit import chain
from governance.audit.models import Checkpoint

CHECKPOINT_MAX_AGE = timedelta(days=1)


@shared_task(acks_late=True, ignore_result=True)
def seal_task() -> dict:
    """Beat job: seal every committed entry that has no chain link yet, then sign a checkpoint
    if anything was sealed or the latest checkpoint is a day old. Safe to run concurrently and
    to redeliver: sealers serialise on an advisory lock and only seal unsealed entries."""
    result = chain.seal_all()
    latest = Checkpoint.objects.order_by("-id").first()
    checkpoint = None
    if result.sealed or latest is None or latest.created_at < timezone.now() - CHECKPOINT_MAX_AGE:
        checkpoint = chain.checkpoint_write()
    return {
        "sealed": result.sealed,
        "size": result.size,
        "head": result.head,
        "checkpoint": None if checkpoint is None else checkpoint.pk,
    }

"""Celery tasks. The beat schedule (settings.CELERY_BEAT_SCHEDULE) runs the two dispatchers;
each creates one run per due dataset and enqueues ``run_execute_task`` for it."""

from celery import shared_task
from django.core.cache import cache

from governance.retention import dispatch, runner

RETENTION_LOCK = "lock:retention.dispatch"
ERASURE_LOCK = "lock:retention.erasure_dispatch"


@shared_task(acks_late=True, ignore_result=True)
def run_execute_task(run_id: int) -> dict:
    """Execute or resume one run. Safe to redeliver: a finished run is left alone, and a run
    another worker is executing is left to it (the dataset's advisory lock)."""
    run = runner.run_execute(run_id=run_id)
    if run is None:
        return {"run": run_id, "skipped": "another worker holds the dataset"}
    return {"run": run.pk, "status": run.status}


@shared_task(acks_late=True, ignore_result=True)
def retention_dispatch_task() -> dict:
    """Daily: a retention run for every dataset with an enabled policy."""
    if not cache.add(RETENTION_LOCK, "1", timeout=600):
        return {"skipped": "another dispatch holds the lock"}
    try:
        return dispatch.dispatch(kind="retention")
    finally:
        cache.delete(RETENTION_LOCK)


@shared_task(acks_late=True, ignore_result=True)
def erasure_dispatch_task() -> dict:
    """Hourly (and after withdrawals and new requests): an erasure run for every dataset with
    subjects due that no successful run has covered yet; resumes stale runs."""
    if not cache.add(ERASURE_LOCK, "1", timeout=600):
        return {"skipped": "another dispatch holds the lock"}
    try:
        return dispatch.dispatch(kind="erasure")
    finally:
        cache.delete(ERASURE_LOCK)

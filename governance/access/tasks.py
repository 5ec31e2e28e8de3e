from celery import shared_task
from django.core.cache import cache

from governance.access import services

LOCK = "lock:access.grants_expire"


@shared_task(acks_late=True, ignore_result=True)
def grants_expire_task() -> dict:
    """Beat job: expire grants past their end and send renewal reminders. A cache lock keeps
    two schedulers from running it at once; the job itself is idempotent (SKIP LOCKED)."""
    if not cache.add(LOCK, "1", timeout=600):
        return {"skipped": "another run holds the lock"}
    try:
        return services.grants_expire()
    finally:
        cache.delete(LOCK)


ALERTS_LOCK = "lock:access.alerts_scan"


@shared_task(acks_late=True, ignore_result=True)
def alerts_scan_task() -> dict:
    """Beat job: raise alerts on unusual access (governance/access/alerts.py). A cache lock
    keeps two schedulers from scanning at once; the scan itself is idempotent."""
    from governance.access.alerts import alerts_scan

    if not cache.add(ALERTS_LOCK, "1", timeout=600):
        return {"skipped": "another run holds the lock"}
    try:
        return {"raised": [alert.pk for alert in alerts_scan()]}
    finally:
        cache.delete(ALERTS_LOCK)


BUDGET_LOCK = "lock:access.budget_claims_expire"


@shared_task(acks_late=True, ignore_result=True)
def budget_claims_expire_task() -> dict:
    """Beat job: privacy-budget locks nobody settled in time go back to their budget."""
    from governance.access.services.budget import budget_claims_expire

    if not cache.add(BUDGET_LOCK, "1", timeout=600):
        return {"skipped": "another run holds the lock"}
    try:
        return {"expired": budget_claims_expire()}
    finally:
        cache.delete(BUDGET_LOCK)

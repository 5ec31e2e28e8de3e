from celery import shared_task

from datasets import services


@shared_task(acks_late=True, ignore_result=True)
def scan_run_task(scan_id: int) -> None:
    """Run one scan. Safe to redeliver: a finished scan is left alone."""
    services.scan_run(scan_id=scan_id)

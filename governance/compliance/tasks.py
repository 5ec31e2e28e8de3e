from celery import shared_task

from governance.compliance import services


@shared_task(acks_late=True, ignore_result=True)
def export_run_task(export_id: int) -> None:
    """Build one export. Safe to redeliver: a finished export is left alone."""
    services.export_run(export_id=export_id)

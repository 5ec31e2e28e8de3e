"""The Celery app. Configuration comes from Django settings (CELERY_* names); the beat
schedule lives in settings too. Tasks take primary keys, load, and call one service."""

import os
from pathlib import Path

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")

app = Celery("governance")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def ensure_broker_folders() -> None:
    """The filesystem transport needs its folders before the first message is sent."""
    options = app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)


@app.on_after_configure.connect
def _after_configure(sender, **kwargs):
    ensure_broker_folders()


@worker_process_init.connect
def _worker_process_init(**kwargs):
    ensure_broker_folders()

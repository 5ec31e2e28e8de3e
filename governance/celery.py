"""The Celery app. Configuration comes from Django settings (CELERY_* names); the beat
schedule lives in settings too. Tasks take primary keys, load, and call one service."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")

app = Celery("governance")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

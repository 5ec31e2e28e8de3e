"""A real Celery worker (Redis broker) runs a scan started through the API."""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from datasets.models import Scan
from tests.accounts.factories import UserFactory
from tests.datasets.factories import make_dataset

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(predicate, seconds=30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_a_worker_runs_the_scan_and_records_progress(
    client, celery_worker_thread, tmp_path, settings
):
    # given
    settings.SCANNER_UPLOAD_DIR = tmp_path
    alice = UserFactory(username="alice", roles=["steward"])
    make_dataset(alice, slug="tickets")
    client.force_login(alice)
    sample = b"email,ip\n" + b"".join(
        f"user{i}@example.org,10.0.{i}.1\n".encode() for i in range(50)
    )
    # when the scan is started through the API (the task is sent on commit)
    response = client.post(
        "/api/v1/datasets/tickets/scans/create", {"file": SimpleUploadedFile("s.csv", sample)}
    )
    assert response.status_code == 202
    scan_id = response.json()["id"]
    # then the worker finishes it
    assert wait_for(lambda: Scan.objects.get(pk=scan_id).is_finished)
    scan = Scan.objects.get(pk=scan_id)
    assert (scan.status, scan.progress, scan.rows_sampled) == ("succeeded", 100, 50)
    categories = dict(scan.suggestions.values_list("field__name", "category__key"))
    assert categories == {"email": "user.contact.email", "ip": "user.device.ip_address"}
    assert not list(tmp_path.glob("*.csv"))  # the uploaded sample is gone

from __future__ import annotations

import time
from pathlib import Path

from openpyxl import load_workbook

from governance.audit.models import LedgerEntry
from governance.compliance.models import Export
from tests.accounts.factories import UserFactory
from tests.consent.factories import make_purpose


def test_the_worker_builds_an_export_requested_through_the_api_end_to_end(
    celery_worker_thread, api_client
):
    # given an auditor and one active purpose
    audrey = UserFactory(username="audrey", roles=["auditor"])
    make_purpose("churn-model")
    api_client.force_authenticate(audrey)
    # when the export is requested; the worker picks it up after the commit
    response = api_client.post("/api/v1/compliance/exports/create", {"kind": "ropa"})
    assert response.status_code == 202
    export_id = response.json()["id"]
    deadline = time.monotonic() + 20
    body = {}
    while time.monotonic() < deadline:
        body = api_client.get(f"/api/v1/compliance/exports/{export_id}").json()
        if body["status"] in {"succeeded", "failed"}:
            break
        time.sleep(0.1)
    # then
    assert body["status"] == "succeeded", body
    assert body["progress"] == 100
    assert body["download_url"] == f"/api/v1/compliance/exports/{export_id}/download"
    export = Export.objects.get(pk=export_id)
    sheet = load_workbook(Path(export.file_path)).active
    assert sheet.max_row == 2
    download = api_client.get(body["download_url"])
    assert download.status_code == 200
    b"".join(download.streaming_content)
    assert list(
        LedgerEntry.objects.filter(event__startswith="compliance.")
        .order_by("id")
        .values_list("event", flat=True)
    ) == [
        "compliance.export_requested",
        "compliance.export_completed",
        "compliance.export_downloaded",
    ]

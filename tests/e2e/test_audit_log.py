"""An auditor signs in, filters the audit log, reads an entry with its chain proof, and
downloads an audit-log export built by a real Celery worker."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from governance.audit import chain
from governance.audit import services as audit
from tests.accounts.factories import UserFactory
from tests.e2e.signin import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _checkpoint_keys(settings, tmp_path):
    settings.AUDIT_CHECKPOINT_KEY_FILE = tmp_path / "keys" / "audit-checkpoint.jwks.json"


def test_auditor_filters_the_log_and_downloads_an_export(
    live_server, page: Page, celery_worker_thread, settings, tmp_path
):
    settings.COMPLIANCE_EXPORT_DIR = tmp_path / "exports"
    UserFactory(username="audrey", roles=["auditor"])
    bob = UserFactory(username="bob", roles=["engineer"])
    audit.record(action="access.check", actor=bob, data={"decision": "deny", "dataset": "x"})

    sign_in(page, live_server.url, "audrey")
    # her login is sealed and checkpointed by the periodic task; here, on demand
    chain.seal()
    chain.checkpoint_write()

    page.locator('[data-nav="audit"]').click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    expect(page.get_by_test_id("checkpoint-size")).to_contain_text("entries")
    page.get_by_label("Event").fill("auth.")
    page.get_by_role("button", name="Filter").click()

    rows = page.get_by_test_id("ledger-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("auth.login")
    expect(rows.first).to_contain_text("audrey")
    expect(page.locator('[data-event="access.check"]')).to_have_count(0)

    rows.first.get_by_test_id("open-entry").click()
    expect(page.get_by_test_id("entry-event")).to_have_text("auth.login")
    expect(page.get_by_test_id("entry-actor")).to_contain_text("audrey")
    expect(page.get_by_test_id("proof-status")).to_have_text("Verified")
    expect(page.get_by_test_id("proof-checkpoint")).to_contain_text("signature valid")

    # an export of the log for a period, built by the worker, then downloaded
    page.locator('[data-nav="exports"]').click()
    page.get_by_label("Kind").select_option("audit_log")
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    page.get_by_label("Start").fill((now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("End").fill((now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Request export").click()
    expect(page.get_by_test_id("export-status")).to_have_text("Ready", timeout=30_000)
    with page.expect_download() as download_info:
        page.get_by_test_id("export-download").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".zip")
    path = tmp_path / "downloaded.zip"
    download.save_as(path)
    import zipfile

    with zipfile.ZipFile(path) as bundle:
        names = set(bundle.namelist())
    assert {"audit-log.csv", "audit-log.jsonl"} <= names
    assert any(name.startswith("bundle/") for name in names)

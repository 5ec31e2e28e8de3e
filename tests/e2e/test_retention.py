"""A privacy officer opens a dataset's retention page in the browser, previews the next run
(the count read from a real PostgreSQL store), runs it now on a real Celery worker, and reads
the deletion certificate once the run page stops polling."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from governance.retention.models import DeletionCertificate, RetentionRun
from tests.e2e.signin import sign_in
from tests.retention.conftest import (  # noqa: F401 — fixtures shared with the retention tests
    churn,
    events_dataset,
    set_policy,
    store,
    store_database,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROWS = 2000
SUBJECTS = 20


def expired_rows(*, days: int = 730, max_age: int = 180) -> set[int]:
    """Row ids Store.fill gives an event time older than ``max_age`` days (12 h off a day)."""
    return {g for g in range(1, ROWS + 1) if g % days >= max_age}


def test_privacy_officer_previews_and_runs_retention_and_reads_the_certificate(
    live_server,
    page: Page,
    celery_worker_thread,
    store,  # noqa: F811 — the shared fixtures imported above
    events_dataset,  # noqa: F811
    alice,
    petra,
):
    # given 2,000 rows over two years and a 180-day policy
    store.fill(ROWS, subjects=SUBJECTS)
    set_policy(dataset=events_dataset, actor=alice, max_age_days=180)
    expired = expired_rows()

    # petra signs in and finds the dataset under Retention
    sign_in(page, live_server.url, "petra")
    page.locator('[data-nav="retention"]').click()
    expect(page.get_by_role("heading", name="Retention and erasure")).to_be_visible()
    page.get_by_test_id("retention-datasets").get_by_role("link", name="shop-events").click()
    expect(page.get_by_role("heading", name="Retention of shop events")).to_be_visible()
    expect(page.get_by_test_id("effective-max-age")).to_contain_text("180 days")

    # the dry run shows what the next run deletes, and deletes nothing
    page.get_by_test_id("preview-button").click()
    expect(page.get_by_test_id("preview-delete").get_by_test_id("preview-rows")).to_have_text(
        str(len(expired))
    )
    assert store.count() == ROWS

    # "Run now" repeats the dry run's counts and asks for the slug and a tick
    page.get_by_test_id("run-now").click()
    expect(page.get_by_test_id("impact")).to_contain_text(f"{len(expired)} row(s)")
    expect(page.get_by_test_id("confirm-run")).to_be_disabled()
    page.get_by_test_id("confirm-slug").fill("shop-events")
    page.get_by_test_id("confirm-understood").check()
    assert not RetentionRun.objects.exists()
    # confirmed: the run page polls until the worker has finished and shows the certificate
    page.get_by_test_id("confirm-run").click()
    run = RetentionRun.objects.get()
    expect(page).to_have_url(f"{live_server.url}/retention/runs/{run.pk}/")
    expect(page.get_by_test_id("run-status")).to_have_attribute(
        "data-status", "succeeded", timeout=30_000
    )
    expect(page.get_by_test_id("certificate-outcome")).to_have_text("succeeded")
    expect(page.get_by_test_id("certificate-rows")).to_have_text(str(len(expired)))
    expect(page.get_by_test_id("certificate-verification")).to_contain_text(
        "delete: 0 row(s) remain"
    )
    certificate = DeletionCertificate.objects.get(run=run)
    expect(page.get_by_test_id("certificate-sha256")).to_have_text(certificate.sha256)

    # and the rows are really gone from the store
    assert store.ids() == set(range(1, ROWS + 1)) - expired
    run.refresh_from_db()
    assert (run.status, run.requested_by, run.rows_deleted) == ("succeeded", petra, len(expired))

"""In a real browser: a privacy officer activates a purpose; a steward looks up a subject and
downloads the consent receipt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from consent.models import Purpose
from tests.accounts.factories import UserFactory
from tests.consent.factories import make_purpose, record
from tests.e2e.signin import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _sign_in(page: Page, base: str, username: str) -> None:
    sign_in(page, base, username)  # through the real forms, second factor included


def test_privacy_officer_activates_and_steward_downloads_a_receipt(
    live_server, page: Page, browser: Browser
):
    # given a purpose submitted for activation
    UserFactory(username="petra", roles=["privacy_officer"])
    alice = UserFactory(username="alice", roles=["steward"])
    make_purpose("churn-model", status="submitted", owner=alice)

    # when the privacy officer opens it from the registry and activates it
    _sign_in(page, live_server.url, "petra")
    page.locator('[data-nav="consent"]').click()
    expect(page.get_by_role("heading", name="Purposes")).to_be_visible()
    page.get_by_role("link", name="Train the churn model").click()
    expect(page.get_by_test_id("purpose-status")).to_have_text("Awaiting activation")
    form = page.get_by_test_id("activate-form")
    for box in form.locator("input[name=checklist]").all():
        box.check()
    form.locator("textarea[name=note]").fill("Notice and legal basis checked.")
    page.get_by_test_id("activate").click()

    # then it is active
    expect(page.get_by_role("status")).to_contain_text("churn-model v1 is active.")
    expect(page.get_by_test_id("purpose-status")).to_have_text("Active")
    assert Purpose.objects.get().activated_by.username == "petra"

    # given a source has since recorded a subject's consent
    record("c-000123", "given")

    # when the steward looks the subject up
    context = browser.new_context(accept_downloads=True)
    try:
        steward = context.new_page()
        _sign_in(steward, live_server.url, "alice")
        steward.locator('[data-nav="consent-subjects"]').click()
        steward.get_by_label("Namespace").fill("shop")
        steward.get_by_label("Subject id").fill("c-000123")
        steward.get_by_role("button", name="Look up").click()
        # then she sees the state and history
        expect(steward.get_by_role("heading", name="Subject c-000123")).to_be_visible()
        expect(steward.get_by_test_id("state-churn-model")).to_contain_text("given")
        expect(steward.get_by_test_id("history").locator("tbody tr")).to_have_count(1)
        # and downloads the receipt
        with steward.expect_download() as download_info:
            steward.get_by_test_id("receipt-churn-model").click()
        download = download_info.value
        assert download.suggested_filename == "consent-receipt-shop-c-000123-churn-model-v1.json"
        receipt = json.loads(Path(download.path()).read_text())
    finally:
        context.close()
    assert receipt["subject"] == {"namespace": "shop", "id": "c-000123"}
    assert receipt["purpose"]["slug"] == "churn-model"
    assert receipt["legal_basis"]["iri"] == "https://w3id.org/dpv#Consent"
    assert receipt["state"]["valid"] is True
    assert [e["status"] for e in receipt["events"]] == ["given"]

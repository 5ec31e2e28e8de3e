"""A steward scans a sample in the browser, watches the progress, and accepts a suggestion;
a privacy officer approves."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from datasets.models import Field
from tests.accounts.factories import UserFactory
from tests.datasets.factories import make_dataset
from tests.e2e.signin import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_steward_scans_watches_progress_and_accepts(
    live_server, page: Page, celery_worker_thread, tmp_path, settings
):
    settings.SCANNER_UPLOAD_DIR = tmp_path
    alice = UserFactory(username="alice", roles=["steward"])
    make_dataset(alice, slug="tickets")
    sample = tmp_path / "tickets.csv"
    sample.write_text(
        "ticket_id,email\n" + "".join(f"{i},person{i}@example.org\n" for i in range(30))
    )

    sign_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/datasets/tickets/scans/new/")
    page.set_input_files("input[name=file]", str(sample))
    page.get_by_role("button", name="Start scan").click()
    # the progress bar is on the page and updates until the worker is done
    expect(page.get_by_test_id("scan-bar")).to_be_visible()
    expect(page.get_by_test_id("scan-status")).to_have_text("Succeeded", timeout=30_000)
    expect(page.get_by_test_id("scan-bar")).to_have_attribute("value", "100")
    page.get_by_test_id("to-review").click()
    email = page.locator('[data-testid="suggestion"][data-field="email"]')
    expect(email).to_contain_text("user.contact.email")
    page.evaluate("window.__samePage = true")
    email.get_by_test_id("accept").click()
    # decided in place: the suggestion says so, and the page did not reload (htmx)
    expect(email).to_contain_text("Accepted by alice")
    assert page.evaluate("window.__samePage === true")
    # the focus moved on (to the next card or the progress line), not back to <body>
    focused = page.evaluate("document.activeElement.id")
    assert focused.startswith("suggestion-") or focused == "queue-progress", focused
    field = Field.objects.get(dataset__slug="tickets", name="email")
    assert (field.category.key, field.classified_by.username) == ("user.contact.email", "alice")


def test_privacy_officer_approves_a_dataset_in_review(live_server, page: Page):
    from datasets import services
    from tests.datasets.factories import ANSWERS, BASIC_FIELDS

    alice = UserFactory(username="alice", roles=["steward"])
    UserFactory(username="petra", roles=["privacy_officer"])
    dataset = make_dataset(alice, slug="tickets", fields=BASIC_FIELDS)
    services.dataset_submit(actor=alice, dataset=dataset, **ANSWERS)

    sign_in(page, live_server.url, "petra")
    page.goto(f"{live_server.url}/datasets/?status=in_review")
    page.get_by_test_id("catalog").get_by_role("link", name="tickets").click()
    expect(page.get_by_test_id("review")).to_contain_text(ANSWERS["anonymization"])
    sign_off = page.get_by_test_id("sign-off")
    # without the checklist and a note, nothing changes and both errors show
    sign_off.get_by_test_id("approve").click()
    expect(page.get_by_test_id("checklist-error")).to_be_visible()
    expect(page.get_by_test_id("note-error")).to_be_visible()
    # the page starts with a focused summary of the problems, and the title says so
    expect(page.get_by_test_id("error-summary")).to_be_focused()
    expect(page.get_by_test_id("error-summary")).to_have_attribute("role", "alert")
    assert page.title().startswith("Error: ")
    for box in page.get_by_test_id("sign-off").locator("input[name=checklist]").all():
        box.check()
    page.get_by_test_id("sign-off").locator("textarea[name=note]").fill("Minimised as described.")
    page.get_by_test_id("sign-off").get_by_test_id("approve").click()
    expect(page.get_by_test_id("status")).to_have_text("Approved")

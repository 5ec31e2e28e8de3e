"""Issue 17: one journey per role through the real UI, at desktop and phone widths, with
axe-core's accessibility check on every main page (no serious or critical violation), no
sideways scrolling at 390 px, keyboard use, and the README's screenshots
(UPDATE_SCREENSHOTS=1 writes them to docs/images)."""

from __future__ import annotations

import csv

import pytest
from playwright.sync_api import expect

from consent.models import ConsentEvent, Purpose
from datasets import services as catalog
from datasets.models import Dataset, Suggestion
from governance.access import services as access
from governance.access.models import AccessRequest, Grant
from governance.accounts.models import ServiceAccountRequest
from tests.access.conftest import SURVEY_FIELDS, TICKET_FIELDS
from tests.accounts.factories import UserFactory
from tests.consent.factories import make_purpose, record
from tests.datasets.factories import ANSWERS, make_dataset
from tests.e2e.support import (
    DESKTOP,
    PHONE,
    assert_accessible,
    assert_no_sideways_scroll,
    shoot,
    sign_in,
    sweep,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

JUSTIFICATION = "Train the ticket router on last year's tickets."


@pytest.fixture
def world(settings, tmp_path):
    """Four people, an approved dataset approved for one purpose (of two active), a restricted
    dataset waiting for sign-off, a scanned draft with suggestions, a purpose waiting for
    activation, a subject with consent, and a grant that runs out in three days."""
    settings.ACCESS_LEASE_KEY_FILE = tmp_path / "lease.json"
    settings.AUDIT_CHECKPOINT_KEY_FILE = tmp_path / "keys" / "audit.jwks.json"
    settings.SCANNER_FILE_ROOTS = [tmp_path.resolve()]
    alice = UserFactory(username="alice", roles=["steward"], email="alice@example.org")
    bob = UserFactory(username="bob", roles=["engineer"], email="bob@example.org")
    petra = UserFactory(username="petra", roles=["privacy_officer"], email="petra@example.org")
    UserFactory(username="audrey", roles=["auditor"])
    tickets = make_dataset(alice, slug="support-tickets", fields=TICKET_FIELDS)
    catalog.dataset_submit(actor=alice, dataset=tickets, **ANSWERS)
    catalog.dataset_approve(actor=petra, dataset=tickets, note="Checked.")
    make_purpose("ticket-routing", legal_basis="legitimate_interests", owner=alice,
                 data_categories=["user.contact", "user.content"])  # fmt: skip
    make_purpose("churn", owner=alice, data_categories=["user.contact"])
    access.purpose_approval_create(actor=petra, dataset=tickets, purpose_slug="ticket-routing")
    # a grant of bob's that runs out in three days
    old = access.access_request_create(
        requester=bob, dataset=tickets, purpose_slug="ticket-routing", fields=["ticket_id"],
        duration_days=3, justification=JUSTIFICATION,
    )  # fmt: skip
    access.access_request_approve(actor=alice, request=old, note="Only the ids.")
    # restricted data waiting for the privacy officer
    survey = make_dataset(alice, slug="health-survey", fields=SURVEY_FIELDS)
    catalog.dataset_submit(actor=alice, dataset=survey, **ANSWERS)
    # a draft the steward scanned
    sample = tmp_path / "orders.csv"
    with sample.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["order_id", "email", "amount", "notes"])
        writer.writerows(
            [i, f"person{i}@example.org", f"{i * 3}.50", f"k{i % 3}"] for i in range(40)
        )
    orders = make_dataset(alice, slug="orders")
    catalog.scan_run(scan_id=catalog.scan_start(actor=alice, dataset=orders, path=str(sample)).pk)
    # a purpose waiting for activation, and a subject who gave consent
    make_purpose("support-quality", status="submitted", owner=alice,
                 data_categories=["user.contact"])  # fmt: skip
    record("c-1", "given", purpose="churn")
    from governance.audit import chain

    chain.seal()
    chain.checkpoint_write()
    return {"tickets": tickets, "survey": survey, "orders": orders}


def test_engineer_requests_access_from_the_catalog_and_asks_for_a_service_account(
    live_server, new_context, world, tmp_path
):
    base = live_server.url
    page = new_context(viewport=DESKTOP).new_page()
    sign_in(page, base, "bob")
    # the dashboard: the grant that runs out, with its days left and one-click renewal
    days = page.get_by_test_id("grant-days-left")
    expect(days).to_contain_text("support-tickets for ticket-routing: 2 days left")
    expect(days.get_by_test_id("renew-now")).to_be_visible()
    assert_accessible(page, "engineer dashboard")
    shoot(page, "dashboard-engineer.png", tmp_path)
    # keyboard: the skip link is the first stop and moves focus to the content
    page.keyboard.press("Tab")
    expect(page.get_by_test_id("skip-link")).to_be_focused()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    # from a catalog row, "Request access" opens the form for that dataset
    page.locator('[data-nav="catalog"]').click()
    row = page.locator('tr[data-dataset="support-tickets"]')
    row.get_by_test_id("request-access").click()
    purpose = page.get_by_test_id("purpose-select")
    expect(purpose.locator("option")).to_have_count(2)  # the prompt and the one approved
    expect(purpose).to_have_value("ticket-routing")
    # sending it incomplete shows every problem at once
    page.get_by_label("Duration (days)").fill("400")
    page.get_by_test_id("send-request").click()
    expect(page.get_by_test_id("fields-error")).to_be_visible()
    expect(page.get_by_test_id("duration_days-error")).to_be_visible()
    expect(page.get_by_test_id("justification-error")).to_be_visible()
    assert_accessible(page, "request form with errors")
    page.get_by_test_id("field-picker").locator('input[value="email"]').check()
    page.get_by_label("Duration (days)").fill("30")
    page.get_by_label("Justification").fill(JUSTIFICATION)
    page.get_by_test_id("send-request").click()
    expect(page.get_by_test_id("request-status")).to_have_text("Waiting for approval")
    expect(page.get_by_test_id("requested-fields")).to_contain_text("user.contact.email")
    shoot(page, "engineer-request.png", tmp_path)
    assert AccessRequest.objects.filter(status="pending", fields=["email"]).count() == 1

    # no service account yet: the page says how to get one, and the request goes out
    page.locator('[data-nav="service-accounts"]').click()
    expect(page.get_by_test_id("how-to-get-one")).to_be_visible()
    page.get_by_test_id("request-service-account").click()
    page.get_by_label("Name").fill("router-training")
    page.get_by_label("What will it run?").fill("Trains the ticket router nightly on tickets.")
    page.get_by_test_id("send-service-account-request").click()
    expect(page.get_by_test_id("service-account-requests")).to_contain_text("router-training")
    assert ServiceAccountRequest.objects.get().requested_by.username == "bob"
    sweep(page, base, ["/access/", "/access/requests/", "/accounts/service-accounts/"])

    # phone: the navigation collapses behind "Menu" (keyboard too), nothing scrolls sideways
    page.set_viewport_size(PHONE)
    page.goto(f"{base}/")
    expect(page.get_by_test_id("main-menu")).to_be_hidden()
    shoot(page, "dashboard-engineer-phone.png", tmp_path)
    page.get_by_test_id("nav-toggle").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("main-menu")).to_be_visible()
    assert_no_sideways_scroll(page, "engineer dashboard")
    sweep(page, base, ["/datasets/", "/access/request/?dataset=support-tickets", "/access/"])
    assert_accessible(page, "my access at 390 px")


def test_steward_reviews_in_place_submits_and_approves_with_a_note(
    live_server, new_context, world, tmp_path
):
    base = live_server.url
    bob = world["tickets"].grants.get().request.requester
    pending = access.access_request_create(
        requester=bob, dataset=world["tickets"], purpose_slug="ticket-routing",
        fields=["email", "message"], duration_days=30, justification=JUSTIFICATION,
    )  # fmt: skip
    page = new_context(viewport=DESKTOP).new_page()
    sign_in(page, base, "alice")
    expect(page.get_by_test_id("review-suggestions")).to_contain_text("orders")
    expect(page.get_by_test_id("inbox-count")).to_contain_text("1")
    expect(page.get_by_test_id("decisions-chart")).to_be_visible()
    assert_accessible(page, "steward dashboard")
    shoot(page, "dashboard-steward.png", tmp_path)

    # the review queue: one decision in place, then every confident one, then the rest
    page.get_by_test_id("review-suggestions").get_by_role("link").click()
    page.evaluate("window.__samePage = true")
    first = page.get_by_test_id("suggestion").filter(has=page.get_by_test_id("accept")).first
    field = first.get_attribute("data-field")
    first.get_by_test_id("accept").click()
    decided = page.locator(f'[data-testid="suggestion"][data-field="{field}"]')
    expect(decided).to_contain_text("Accepted by alice")
    assert page.evaluate("window.__samePage === true")
    assert_accessible(page, "review queue")
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, "review-queue.png", tmp_path)
    if page.get_by_test_id("accept-confident").count():
        page.get_by_test_id("accept-confident").click()
    # what is left is edited in place, one by one
    while True:
        page.goto(f"{base}/datasets/orders/review/")
        waiting = page.get_by_test_id("suggestion")
        if waiting.count() == 0:
            break
        item = waiting.first
        item.locator("summary").click()
        item.locator('select[name="role"]').select_option("non_personal")
        item.locator('select[name="treatment"]').select_option("keep")
        item.get_by_role("button", name="Save edited").click()
        expect(item.locator("footer small").first).to_contain_text("with edits by alice")
    # the empty queue names the next step
    expect(page.get_by_test_id("queue-empty")).to_contain_text("Nothing left to decide")
    page.get_by_test_id("queue-empty").get_by_test_id("next-submit").click()
    page.get_by_label("Why is each personal field needed?").fill(ANSWERS["personal_fields_need"])
    page.get_by_label("Can the data be anonymized").fill(ANSWERS["anonymization"])
    page.get_by_label("Who needs access").fill(ANSWERS["access_and_duration"])
    page.get_by_test_id("send-for-review").click()
    expect(page.get_by_test_id("status")).to_have_text("In review")
    assert Dataset.objects.get(slug="orders").status == "in_review"
    assert not Suggestion.objects.filter(field__dataset__slug="orders", status="suggested")

    # the inbox: what each field is, and the approval note goes with the grant
    page.locator('[data-nav="access"]').click()
    page.get_by_role("link", name="Approvals inbox").click()
    item = page.locator(f'[data-testid="inbox-request"][data-request="{pending.pk}"]')
    expect(item.get_by_test_id("requested-fields")).to_contain_text("user.content.private")
    expect(item.get_by_test_id("requested-fields")).to_contain_text("Mask")
    assert_accessible(page, "inbox")
    shoot(page, "inbox.png", tmp_path)
    item.get_by_label("Approval note").fill("Messages masked before training.")
    item.get_by_test_id("approve").click()
    expect(page.get_by_test_id("inbox-empty")).to_be_visible()
    grant = Grant.objects.get(request=pending)
    assert grant.conditions == [
        {"as": "steward", "by": "alice", "note": "Messages masked before training."}
    ]
    sweep(page, base, ["/datasets/", "/datasets/support-tickets/", "/access/grants/"])
    page.set_viewport_size(PHONE)
    sweep(page, base, ["/", "/datasets/orders/review/?status=all", "/access/inbox/"], axe=False)
    shoot(page, "review-queue-phone.png", tmp_path)


def test_privacy_officer_signs_off_activates_and_withdraws_with_confirmation(
    live_server, new_context, world, tmp_path
):
    base = live_server.url
    page = new_context(viewport=DESKTOP).new_page()
    sign_in(page, base, "petra")
    expect(page.get_by_test_id("sign-off-dataset")).to_contain_text("health-survey")
    expect(page.get_by_test_id("activate-purpose")).to_be_visible()
    expect(page.get_by_test_id("latest-checkpoint")).to_contain_text("signature verified")
    assert_accessible(page, "privacy officer dashboard")
    shoot(page, "dashboard-privacy-officer.png", tmp_path)

    # restricted data: the sign-off is below the answers, with a checklist and a note
    page.get_by_test_id("sign-off-dataset").get_by_role("link").click()
    sign_off = page.get_by_test_id("sign-off")
    expect(sign_off).to_contain_text("Restricted data is never approved without a note")
    for box in sign_off.locator("input[name=checklist]").all():
        box.check()
    sign_off.get_by_test_id("approve").click()
    expect(page.get_by_test_id("note-error")).to_be_visible()
    assert Dataset.objects.get(slug="health-survey").status == "in_review"
    sign_off = page.get_by_test_id("sign-off")
    for box in sign_off.locator("input[name=checklist]").all():
        box.check()
    sign_off.locator("textarea[name=note]").fill("Diagnosis dropped before training; DPIA-7.")
    shoot(page, "dataset-sign-off.png", tmp_path)
    sign_off.get_by_test_id("approve").click()
    expect(page.get_by_test_id("status")).to_have_text("Approved")

    # a purpose's legal sign-off
    page.goto(f"{base}/")
    page.get_by_test_id("activate-purpose").get_by_role("link").click()
    form = page.get_by_test_id("activate-form")
    for box in form.locator("input[name=checklist]").all():
        box.check()
    form.locator("textarea[name=note]").fill("Notice v1 read; legitimate interests assessed.")
    form.get_by_test_id("activate").click()
    expect(page.get_by_test_id("activation")).to_contain_text("legitimate interests assessed")
    assert Purpose.objects.get(slug="support-quality").status == "active"

    # a withdrawal on the subject's request: channel, reference and what it sets off
    page.goto(f"{base}/consent/subjects/")
    expect(page.get_by_label("Namespace")).to_have_value("shop")
    page.get_by_label("Subject id").fill("c-1")
    page.get_by_role("button", name="Look up").click()
    page.get_by_test_id("withdraw-churn").click()
    expect(page.get_by_test_id("impact")).to_contain_text("training jobs stop receiving")
    page.get_by_label("The subject asked by").select_option("email")
    page.get_by_label("Reference of the request").fill("TICKET-4711")
    page.get_by_label("I confirm the subject asked").check()
    assert_accessible(page, "withdrawal confirmation")
    shoot(page, "withdrawal.png", tmp_path)
    page.get_by_test_id("confirm-withdraw").click()
    expect(page.get_by_test_id("event-reference").first).to_contain_text("TICKET-4711")
    withdrawal = ConsentEvent.objects.get(status="withdrawn")
    assert (withdrawal.collection_method, withdrawal.evidence) == (
        "email",
        {"reference": "TICKET-4711"},
    )
    sweep(
        page,
        base,
        [
            "/consent/",
            "/consent/purposes/churn/",
            "/retention/",
            "/retention/holds/",
            "/retention/erasure-requests/",
            "/access/purpose-approvals/",
            "/access/alerts/",
        ],
    )
    page.set_viewport_size(PHONE)
    sweep(page, base, ["/", "/consent/", "/retention/erasure-requests/"], axe=False)
    shoot(page, "dashboard-privacy-officer-phone.png", tmp_path)


def test_auditor_reads_the_ledger_state_and_the_history(live_server, new_context, world, tmp_path):
    base = live_server.url
    page = new_context(viewport=DESKTOP).new_page()
    sign_in(page, base, "audrey")
    expect(page.get_by_test_id("latest-checkpoint")).to_contain_text("signature verified")
    expect(page.get_by_test_id("exports-panel")).to_contain_text("No exports yet.")
    assert_accessible(page, "auditor dashboard")
    shoot(page, "dashboard-auditor.png", tmp_path)
    page.get_by_test_id("latest-checkpoint").get_by_role("link").click()
    expect(page.get_by_test_id("checkpoint-size")).to_contain_text("entries")
    page.get_by_test_id("open-entry").first.click()
    expect(page.get_by_test_id("chain-proof").or_(page.get_by_test_id("chain-proof-unsealed")))
    # the dataset's history reads as names and labels
    page.goto(f"{base}/datasets/support-tickets/")
    history = page.get_by_test_id("history")
    expect(history).to_contain_text("Approved")
    expect(history).not_to_contain_text("∅")
    shoot(page, "dataset-page.png", tmp_path)
    sweep(
        page,
        base,
        ["/audit/", "/compliance/exports/", "/datasets/health-survey/", "/access/requests/"],
    )
    page.set_viewport_size(PHONE)
    sweep(page, base, ["/", "/audit/", "/datasets/support-tickets/"], axe=False)
    assert_accessible(page, "dataset page at 390 px")
    shoot(page, "dashboard-auditor-phone.png", tmp_path)

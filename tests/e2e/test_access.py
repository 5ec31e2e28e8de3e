"""An engineer requests access in the browser, the dataset's steward approves it from the inbox,
and the engineer finds the grant under "My access" and acknowledges its terms."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from datasets import services as catalog
from governance.access import services
from governance.access.models import AccessRequest, Acknowledgement
from tests.access.conftest import TICKET_FIELDS
from tests.accounts.factories import UserFactory
from tests.consent.factories import make_purpose
from tests.datasets.factories import ANSWERS, make_dataset
from tests.e2e.signin import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

JUSTIFICATION = "Train the ticket router on last year's tickets."


def signed_in(new_context, base: str, username: str) -> Page:
    """A fresh browser context (its own cookies) signed in as ``username``."""
    return sign_in(new_context().new_page(), base, username)


def test_request_approve_and_acknowledge_in_the_browser(
    live_server, new_context, settings, tmp_path
):
    # given an approved dataset that may serve an active purpose (transactional test: the data
    # is made here, not by the shared fixtures)
    settings.ACCESS_LEASE_KEY_FILE = tmp_path / "k.json"
    alice = UserFactory(username="alice", roles=["steward"])
    UserFactory(username="bob", roles=["engineer"])
    petra = UserFactory(username="petra", roles=["privacy_officer"])
    tickets = make_dataset(alice, slug="support-tickets", fields=TICKET_FIELDS)
    catalog.dataset_submit(actor=alice, dataset=tickets, **ANSWERS)
    catalog.dataset_approve(actor=petra, dataset=tickets)
    make_purpose(
        "ticket-routing",
        legal_basis="legitimate_interests",
        owner=alice,
        data_categories=["user.contact", "user.content"],
    )
    services.purpose_approval_create(actor=petra, dataset=tickets, purpose_slug="ticket-routing")

    # when bob requests two fields through the form (ticking them once the dataset is chosen)
    bob_page = signed_in(new_context, live_server.url, "bob")
    bob_page.get_by_role("link", name="Access", exact=True).click()
    bob_page.get_by_test_id("request-access").click()
    bob_page.locator("select[name=dataset]").select_option("support-tickets")
    picker = bob_page.get_by_test_id("field-picker")
    expect(picker).to_contain_text("Approved for: ticket-routing")
    picker.locator('input[name="fields"][value="ticket_id"]').check()
    picker.locator('input[name="fields"][value="email"]').check()
    bob_page.locator("select[name=purpose]").select_option("ticket-routing")
    bob_page.get_by_label("Duration (days)").fill("30")
    bob_page.get_by_label("Justification").fill(JUSTIFICATION)
    bob_page.get_by_test_id("send-request").click()
    expect(bob_page.get_by_test_id("request-status")).to_have_text("Waiting for approval")
    request = AccessRequest.objects.get()
    assert (request.fields, request.duration_days) == (["ticket_id", "email"], 30)

    # and alice approves it from her inbox
    alice_page = signed_in(new_context, live_server.url, "alice")
    alice_page.goto(f"{live_server.url}/access/inbox/")
    item = alice_page.locator(f'[data-testid="inbox-request"][data-request="{request.pk}"]')
    expect(item).to_contain_text(JUSTIFICATION)
    item.get_by_label("Approval note").fill("For the router only.")
    item.get_by_test_id("approve").click()
    expect(alice_page.get_by_role("status")).to_contain_text(f"Request {request.pk} approved")
    expect(alice_page.get_by_test_id("inbox-empty")).to_be_visible()

    # then bob finds the grant under "My access", active but waiting for his acknowledgement
    bob_page.goto(f"{live_server.url}/access/")
    grant = bob_page.locator('[data-testid="grant"][data-dataset="support-tickets"]')
    expect(grant.get_by_test_id("grant-status")).to_have_text("Active")
    expect(grant.get_by_test_id("not-acknowledged")).to_be_visible()
    expect(grant.get_by_test_id("terms")).to_contain_text("only for the purpose")
    grant.get_by_test_id("acknowledge").click()
    # and once acknowledged, the page shows it acknowledged and active
    expect(bob_page.get_by_role("status")).to_contain_text("You acknowledged the terms")
    expect(grant.get_by_test_id("acknowledged")).to_have_text("Terms acknowledged")
    expect(grant.get_by_test_id("grant-status")).to_have_text("Active")
    expect(grant.get_by_test_id("acknowledge")).to_have_count(0)
    ack = Acknowledgement.objects.get()
    assert (ack.user.username, ack.grant.request_id) == ("bob", request.pk)

"""Issue 17, dashboards that answer "what needs me now": one per role, every item a link to
the page where the person acts."""

from __future__ import annotations

import re

import pytest
from django.urls import Resolver404, resolve

from governance.access import services
from tests.access.conftest import TICKET_FIELDS, request_and_approve
from tests.consent.factories import make_purpose
from tests.datasets.factories import ANSWERS, make_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(alice, bob, petra, audrey, ada, settings, tmp_path):
    from datasets import services as catalog

    settings.ACCESS_LEASE_KEY_FILE = tmp_path / "lease.json"
    tickets = make_dataset(alice, slug="support-tickets", fields=TICKET_FIELDS)
    catalog.dataset_submit(actor=alice, dataset=tickets, **ANSWERS)
    catalog.dataset_approve(actor=petra, dataset=tickets, note="Checked.")
    make_dataset(alice, slug="drafty", fields=TICKET_FIELDS)
    make_purpose("ticket-routing", legal_basis="legitimate_interests", owner=alice,
                 data_categories=["user.contact", "user.content"])  # fmt: skip
    make_purpose("pending-one", status="submitted", owner=alice)
    services.purpose_approval_create(actor=petra, dataset=tickets, purpose_slug="ticket-routing")
    grant = request_and_approve(bob, alice, tickets, days=5).grant
    services.access_request_create(
        requester=bob, dataset=tickets, purpose_slug="ticket-routing", fields=["message"],
        duration_days=5, justification="Train the ticket router on messages too.",
        principal="role:engineer",
    )  # fmt: skip
    return {"grant": grant}


def links(html: str) -> list[str]:
    main = html[html.index("<main") : html.index("</main>")]
    return re.findall(r'href="([^"#?]+)[^"]*"', main)


@pytest.mark.parametrize(
    ("persona", "testids"),
    [
        ("bob", ["engineer-panel", "grant-days-left", "renew-now"]),
        ("alice", ["steward-panel", "approver-panel", "inbox-count", "submit-draft",
                   "decisions-chart"]),
        ("petra", ["consent-panel", "activate-purpose", "retention-panel", "erasure-overdue",
                   "ledger-panel", "latest-checkpoint", "exports-panel"]),
        ("audrey", ["ledger-panel", "latest-checkpoint", "exports-panel"]),
        ("ada", ["admin-panel", "service-account-requests"]),
    ],
)  # fmt: skip
def test_each_role_sees_what_needs_them_and_every_item_links_to_a_page(
    client, request, world, persona, testids
):
    client.force_login(request.getfixturevalue(persona))
    response = client.get("/")
    html = response.content.decode()
    for testid in testids:
        assert f'data-testid="{testid}"' in html, testid
    for href in links(html):
        try:
            resolve(href)
        except Resolver404:
            pytest.fail(f"{persona}'s dashboard links to {href}, which is no page")
        assert client.get(href).status_code == 200, href


def test_the_engineers_grant_shows_its_days_left_and_renews_in_one_click(client, bob, world):
    client.force_login(bob)
    html = client.get("/").content.decode()
    assert "support-tickets for ticket-routing: 4 days left" in html or (
        "support-tickets for ticket-routing: 5 days left" in html
    )
    grant = world["grant"]
    assert f'action="/access/grants/{grant.pk}/renew/"' in html

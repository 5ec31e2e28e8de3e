"""The privacy-budget pages: the chart of every data block, the claims with who made them and
who owns them, and the requirement form — no inline script or style (a CSP without
unsafe-inline is coming)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from governance.access import services
from governance.access.models import BudgetRequirement
from governance.access.services import budget
from governance.audit.models import LedgerEntry
from tests.access.conftest import request_and_approve
from tests.accounts.factories import make_service_account


@pytest.fixture
def spent(alice, bob, tickets, approved_for_routing):
    start = timezone.now() - timedelta(days=20)
    with time_machine.travel(start, tick=False):
        requirement = budget.budget_requirement_set(
            actor=alice, dataset=tickets, epsilon=2.0, block_days=7
        )
    account, _ = make_service_account(bob, name="dp-job")
    request = request_and_approve(
        bob, alice, tickets, fields=("ticket_id",), principal="service_account:dp-job"
    )
    services.grant_acknowledge(actor=bob, grant=request.grant)
    first = budget.budget_claim_acquire(
        actor=account.user,
        dataset_slug="support-tickets",
        purpose_slug="ticket-routing",
        epsilon=0.5,
    )
    budget.budget_claim_commit(actor=account.user, claim=first)
    budget.budget_claim_acquire(
        actor=account.user,
        dataset_slug="support-tickets",
        purpose_slug="ticket-routing",
        epsilon=0.25,
        blocks=[2],
    )
    return requirement


def test_the_budget_page_charts_every_block_and_lists_claims_with_owners(client, alice, spent):
    client.force_login(alice)
    response = client.get("/access/budgets/support-tickets/")
    assert response.status_code == 200
    html = response.content.decode()
    chart = re.search(r'<section class="budget-chart".*?</section>', html, re.S).group(0)
    assert chart.count("<g data-block=") == 3
    assert chart.count('class="committed"') == 3  # 0.5 committed on every block
    assert chart.count('class="locked"') == 1  # 0.25 locked on block 2 only
    assert "Block 2 (from" in chart and "0.5 committed, 0.25 locked, 1.25 left of 2" in chart
    assert "service_account:dp-job" in html and ">bob<" in html
    assert "css/budget" in html
    assert "<script" not in html.split("<main", 1)[-1]
    assert "style=" not in html.split("<main", 1)[-1]


def test_the_list_shows_only_budgets_the_viewer_may_see(client, spent, bob, audrey):
    client.force_login(audrey)
    assert "support-tickets" in client.get("/access/budgets/").content.decode()
    client.force_login(bob)
    assert "support-tickets" not in client.get("/access/budgets/").content.decode()


def test_a_steward_sets_the_budget_in_the_portal(client, alice, tickets):
    client.force_login(alice)
    response = client.post(
        "/access/budgets/support-tickets/", {"epsilon": "1.5", "delta": "0", "block_days": "30"}
    )
    assert response.status_code == 302
    requirement = BudgetRequirement.objects.get(dataset=tickets, retired_at=None)
    assert (float(requirement.epsilon), requirement.block_days) == (1.5, 30)
    assert LedgerEntry.objects.filter(event="access.budget_requirement_set").count() == 1


def test_a_bad_budget_in_the_form_is_an_error_next_to_the_field(client, alice, tickets):
    client.force_login(alice)
    response = client.post("/access/budgets/support-tickets/", {"epsilon": "-1"})
    assert response.status_code == 200
    assert "epsilon must be a finite number greater than 0" in response.content.decode()
    assert not BudgetRequirement.objects.exists()


def test_the_budget_list_costs_the_same_queries_for_one_budget_or_many(
    client, audrey, alice, petra, spent, django_assert_max_num_queries
):
    from datasets.models import Dataset
    from tests.access.conftest import TICKET_FIELDS
    from tests.datasets.factories import make_approved

    client.force_login(audrey)
    client.get("/access/budgets/")  # warm the session and permission caches
    with django_assert_max_num_queries(12) as one:
        client.get("/access/budgets/")
    for i in range(5):
        dataset = make_approved(alice, petra, slug=f"more-{i}", fields=TICKET_FIELDS)
        budget.budget_requirement_set(actor=alice, dataset=dataset, epsilon=1.0)
    assert Dataset.objects.count() == 6
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = client.get("/access/budgets/")
    assert response.content.decode().count("/access/budgets/more-") == 5


def test_a_lapsed_lock_reads_expired_on_the_page_before_the_sweeper_runs(client, alice, spent):
    from governance.access.models import BudgetClaim

    locked = BudgetClaim.objects.get(status=BudgetClaim.Status.LOCKED)
    client.force_login(alice)
    later = locked.lock_expires_at + timedelta(seconds=1)
    with time_machine.travel(later, tick=False):
        html = client.get("/access/budgets/support-tickets/").content.decode()
    row = re.search(rf'<tr data-claim="{locked.pk}">.*?</tr>', html, re.S).group(0)
    assert 'class="claim-status-expired"' in row and "Lock expired" in row
    assert "until" not in row
    locked.refresh_from_db()
    assert locked.status == BudgetClaim.Status.LOCKED  # the sweeper has not run

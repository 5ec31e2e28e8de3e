"""The privacy-budget ledger (issue 16): acquire, commit, release, expire; never overspent,
even by parallel requests; every bad input a 4xx with a reason and nothing changed but the
refusal in the ledger."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from governance.access import services
from governance.access.models import BudgetClaim, BudgetRequirement
from governance.access.services import budget
from governance.audit.models import LedgerEntry
from tests.access.conftest import request_and_approve
from tests.accounts.factories import make_service_account
from tests.test_api_shell import _token_for

CLAIMS = "/api/v1/budget/claims"


@pytest.fixture
def job(bob, alice, approved_for_routing, tickets):
    account, _ = make_service_account(bob, name="dp-job")
    request = request_and_approve(
        bob, alice, tickets, fields=("ticket_id",), principal="service_account:dp-job"
    )
    services.grant_acknowledge(actor=bob, grant=request.grant)
    return account


@pytest.fixture
def requirement(alice, tickets):
    return budget.budget_requirement_set(actor=alice, dataset=tickets, epsilon=1.0, delta=1e-6)


@pytest.fixture
def job_client(api_client, job):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {_token_for(job)}")
    return api_client


def acquire(client, epsilon=0.3, **extra):
    body = {"dataset": "support-tickets", "purpose": "ticket-routing", "epsilon": epsilon, **extra}
    return client.post(CLAIMS, body, format="json")


def state():
    """Everything a refused budget call must leave as it was (and the ledger's non-refusals)."""
    return (
        list(BudgetClaim.objects.order_by("pk").values()),
        list(BudgetRequirement.objects.order_by("pk").values()),
        list(
            LedgerEntry.objects.exclude(event__endswith="refused")
            .order_by("pk")
            .values_list("pk", flat=True)
        ),
    )


def test_the_check_says_when_a_claim_is_required(job_client, requirement):
    body = job_client.post(
        "/api/v1/access/check",
        {"dataset": "support-tickets", "purpose": "ticket-routing"},
        format="json",
    ).json()
    assert body["decision"] == "allow"
    assert body["obligations"]["privacy_budget"] == {
        "requirement": requirement.pk,
        "epsilon": 1.0,
        "delta": 1e-06,
        "composition": "basic",
        "block_days": None,
        "blocks_start": requirement.starts_at.isoformat().replace("+00:00", "Z"),
        "claims_endpoint": "/api/v1/budget/claims",
    }


def test_acquire_commit_and_release_move_the_budget_and_are_ledger_events(
    job_client, requirement, job
):
    # when a job acquires 0.3
    response = acquire(job_client, 0.3, note="run 1")
    # then it is locked and counts against the budget
    assert response.status_code == 201, response.content
    claim = response.json()
    assert (claim["status"], claim["epsilon"], claim["blocks"]) == ("locked", 0.3, [0])
    assert claim["principal"] == "service_account:dp-job"
    [block] = budget.budget_blocks(requirement)
    assert block.epsilon_remaining == Decimal("0.7")
    # when it commits, the budget stays spent
    committed = job_client.post(f"{CLAIMS}/{claim['id']}/commit", format="json")
    assert committed.status_code == 200
    assert committed.json()["status"] == "committed"
    # when a second claim is released, its budget comes back
    second = acquire(job_client, 0.5).json()
    assert budget.budget_blocks(requirement)[0].epsilon_remaining == Decimal("0.2")
    released = job_client.post(f"{CLAIMS}/{second['id']}/release", format="json")
    assert released.json()["status"] == "released"
    assert budget.budget_blocks(requirement)[0].epsilon_remaining == Decimal("0.7")
    events = list(
        LedgerEntry.objects.filter(event__startswith="access.budget_claim")
        .order_by("pk")
        .values_list("event", flat=True)
    )
    assert events == [
        "access.budget_claim_acquired",
        "access.budget_claim_committed",
        "access.budget_claim_acquired",
        "access.budget_claim_released",
    ]
    entry = LedgerEntry.objects.filter(event="access.budget_claim_acquired").order_by("pk").first()
    assert entry.actor == job.user
    assert entry.additional_data["epsilon"] == "0.300000"


def test_a_claim_that_would_exceed_the_remainder_is_refused_with_the_remainder(
    job_client, requirement
):
    assert acquire(job_client, 0.8).status_code == 201
    before = state()
    response = acquire(job_client, 0.5)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "budget_exceeded"
    assert error["details"] == {"remaining": {"0": {"epsilon": 0.2, "delta": 1e-06}}}
    assert state() == before
    assert LedgerEntry.objects.filter(event="access.budget_claim_refused").count() == 1


def test_delta_is_budgeted_like_epsilon(job_client, requirement):
    assert acquire(job_client, 0.1, delta=6e-7).status_code == 201
    response = acquire(job_client, 0.1, delta=6e-7)
    assert response.status_code == 409
    assert response.json()["error"]["details"]["remaining"]["0"]["delta"] == pytest.approx(4e-7)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"epsilon": -1}, "epsilon"),
        ({"epsilon": 0}, "epsilon"),
        ({"epsilon": "NaN"}, "epsilon"),
        ({"epsilon": "Infinity"}, "epsilon"),
        ({"epsilon": "-Infinity"}, "epsilon"),
        ({"epsilon": 1e-9}, "epsilon"),
        ({"epsilon": 0.1, "delta": -0.1}, "delta"),
        ({"epsilon": 0.1, "delta": 1}, "delta"),
        ({"epsilon": 0.1, "delta": "NaN"}, "delta"),
        ({"epsilon": 0.1, "blocks": [3]}, "blocks"),
        ({"epsilon": "a lot"}, "epsilon"),
    ],
)
def test_bad_amounts_are_400_and_change_nothing(job_client, requirement, body, field):
    before = state()
    response = job_client.post(
        CLAIMS, {"dataset": "support-tickets", "purpose": "ticket-routing", **body}, format="json"
    )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in str(error["details"])
    assert state() == before


def test_a_nan_literal_in_the_json_body_is_a_400(job_client, requirement):
    before = state()
    response = job_client.post(
        CLAIMS,
        '{"dataset": "support-tickets", "purpose": "ticket-routing", "epsilon": NaN}',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert state() == before


def test_a_claim_on_a_dataset_without_a_dp_requirement_is_refused(job_client):
    before = state()
    response = acquire(job_client, 0.1)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "no_budget_requirement"
    assert "does not require differential privacy" in error["message"]
    assert state() == before
    assert LedgerEntry.objects.filter(event="access.budget_claim_refused").count() == 1


def test_without_an_allow_no_claim(api_client, bob, requirement):
    # given a service account without any grant on the dataset
    account, _ = make_service_account(bob, name="no-grant-job")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {_token_for(account)}")
    before = state()
    response = acquire(api_client, 0.1)
    assert response.status_code == 403
    assert response.json()["error"]["details"] == {"reasons": ["no_grant"]}
    assert state() == before


def test_committing_twice_or_committing_a_released_claim_is_a_409(job_client, requirement):
    first = acquire(job_client, 0.1).json()
    assert job_client.post(f"{CLAIMS}/{first['id']}/commit").status_code == 200
    second = acquire(job_client, 0.1).json()
    assert job_client.post(f"{CLAIMS}/{second['id']}/release").status_code == 200
    before = state()
    twice = job_client.post(f"{CLAIMS}/{first['id']}/commit")
    assert twice.status_code == 409
    assert twice.json()["error"]["message"] == (
        "This claim is committed (spent); only a locked claim can be committed."
    )
    released = job_client.post(f"{CLAIMS}/{second['id']}/commit")
    assert released.status_code == 409
    assert released.json()["error"]["details"] == {"status": "released"}
    assert job_client.post(f"{CLAIMS}/{first['id']}/release").status_code == 409
    assert state() == before


def test_a_crashed_jobs_lock_expires_back_into_the_budget(job_client, alice, tickets, job):
    requirement = budget.budget_requirement_set(
        actor=alice, dataset=tickets, epsilon=1.0, lock_seconds=60
    )
    claim = acquire(job_client, 0.9).json()
    later = timezone.now() + timedelta(seconds=requirement.lock_seconds + 1)
    with time_machine.travel(later, tick=False):
        # the budget is back even before the beat job marks the claim
        assert budget.budget_blocks(requirement)[0].epsilon_remaining == Decimal("1.000000")
        # committing an expired lock is refused
        response = job_client.post(f"{CLAIMS}/{claim['id']}/commit")
        assert response.status_code == 409
        assert response.json()["error"]["details"] == {"status": "expired"}
        # the beat job marks it, once, in the ledger
        assert budget.budget_claims_expire() == 1
        assert budget.budget_claims_expire() == 0
    assert BudgetClaim.objects.get(pk=claim["id"]).status == "expired"
    assert LedgerEntry.objects.filter(event="access.budget_claim_expired").count() == 1


def test_another_job_cannot_settle_a_claim_but_the_owner_can(
    job_client, requirement, api_client, bob, carol, client
):
    claim = acquire(job_client, 0.1).json()
    other, _ = make_service_account(bob, name="other-job")
    from rest_framework.test import APIClient

    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION=f"Bearer {_token_for(other)}")
    before = state()
    assert stranger.post(f"{CLAIMS}/{claim['id']}/commit").status_code == 403
    assert stranger.get(f"{CLAIMS}/{claim['id']}").status_code == 403
    assert state() == before
    # bob owns the crashed job's service account: he may release its claim
    client.force_login(bob)
    assert client.post(f"{CLAIMS}/{claim['id']}/release").status_code == 200


def test_time_blocks_unlock_new_budget_for_new_data(job_client, job, alice, tickets):
    start = timezone.now() - timedelta(days=15)
    with time_machine.travel(start, tick=False):
        requirement = budget.budget_requirement_set(
            actor=alice, dataset=tickets, epsilon=1.0, block_days=7
        )
    # three blocks have started (days 0-6, 7-13, 14-20)
    assert [b.index for b in budget.budget_blocks(requirement)] == [0, 1, 2]
    # a job reading every block is charged on each
    first = acquire(job_client, 0.6).json()
    assert first["blocks"] == [0, 1, 2]
    assert job_client.post(f"{CLAIMS}/{first['id']}/commit").status_code == 200
    # a second one fits nowhere ...
    refused = acquire(job_client, 0.6)
    assert refused.status_code == 409
    # ... until a new week's data brings a new block with its own budget
    with time_machine.travel(timezone.now() + timedelta(days=7), tick=False):
        job_client.credentials(HTTP_AUTHORIZATION=f"Bearer {_token_for(job)}")  # a fresh token
        newest = acquire(job_client, 0.6).json()
        assert newest["blocks"] == [3]
        assert job_client.post(f"{CLAIMS}/{newest['id']}/commit").status_code == 200
        explicit = acquire(job_client, 0.3, blocks=[0, 3])
        assert explicit.status_code == 201
        assert explicit.json()["blocks"] == [0, 3]
        too_much = acquire(job_client, 0.2, blocks=[1, 3])
        assert too_much.status_code == 409
        assert too_much.json()["error"]["details"]["remaining"] == {
            "1": {"epsilon": 0.4, "delta": 0.0},
            "3": {"epsilon": 0.1, "delta": 0.0},
        }


@pytest.mark.django_db(transaction=True)
def test_parallel_claims_never_overspend(live_server, bob, alice, petra, settings, tmp_path):
    """Twelve jobs ask for 0.1 of a 1.0 budget at once, over HTTP against the live server
    (each request its own PostgreSQL connection): exactly ten get it."""
    import requests

    from datasets import services as catalog
    from tests.access.conftest import TICKET_FIELDS
    from tests.consent.factories import make_purpose
    from tests.datasets.factories import ANSWERS, make_dataset

    settings.ACCESS_LEASE_KEY_FILE = tmp_path / "lease.jwks.json"
    dataset = make_dataset(alice, slug="support-tickets", fields=TICKET_FIELDS)
    catalog.dataset_submit(actor=alice, dataset=dataset, **ANSWERS)
    catalog.dataset_approve(actor=petra, dataset=dataset)
    make_purpose(
        "ticket-routing",
        legal_basis="legitimate_interests",
        owner=alice,
        data_categories=["user.contact", "user.content"],
    )
    services.purpose_approval_create(actor=petra, dataset=dataset, purpose_slug="ticket-routing")
    budget.budget_requirement_set(actor=alice, dataset=dataset, epsilon=1.0)
    tokens = []
    for i in range(12):
        account, _ = make_service_account(bob, name=f"parallel-{i}")
        request = request_and_approve(
            bob, alice, dataset, fields=("ticket_id",), principal=f"service_account:parallel-{i}"
        )
        services.grant_acknowledge(actor=bob, grant=request.grant)
        tokens.append(_token_for(account))
    connection.close()
    barrier = threading.Barrier(len(tokens))
    statuses: list[int] = []

    def claim(token: str) -> None:
        barrier.wait()
        response = requests.post(
            f"{live_server.url}{CLAIMS}",
            json={"dataset": "support-tickets", "purpose": "ticket-routing", "epsilon": 0.1},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=claim, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] * 10 + [409] * 2
    spent = sum(c.epsilon for c in BudgetClaim.objects.all())
    assert spent == Decimal("1.000000")


def test_only_those_who_manage_the_dataset_set_its_budget(bob, alice, tickets, carol):
    with pytest.raises(Exception) as refused:
        budget.budget_requirement_set(actor=bob, dataset=tickets, epsilon=1.0)
    assert refused.value.status_code == 403
    with pytest.raises(Exception) as other:
        budget.budget_requirement_set(actor=carol, dataset=tickets, epsilon=1.0)
    assert other.value.status_code == 403
    assert not BudgetRequirement.objects.exists()
    assert LedgerEntry.objects.filter(event="access.budget_requirement_refused").count() == 2


def test_a_new_budget_carries_the_spending_over(job_client, alice, tickets, requirement):
    acquire(job_client, 0.4)
    replaced = budget.budget_requirement_set(actor=alice, dataset=tickets, epsilon=0.5)
    assert budget.budget_blocks(replaced)[0].epsilon_remaining == Decimal("0.1")
    assert BudgetRequirement.objects.get(pk=requirement.pk).retired_at is not None


def check(client, purpose="ticket-routing"):
    return client.post(
        "/api/v1/access/check",
        {"dataset": "support-tickets", "purpose": purpose},
        format="json",
    ).json()


def test_a_claim_names_an_allow_decision_of_its_own_principal_dataset_and_purpose(
    job_client, requirement
):
    # given an allow of this job for this dataset and purpose
    decision_id = check(job_client)["decision_id"]
    # when it claims with that decision
    response = acquire(job_client, 0.1, decision_id=decision_id)
    # then the claim records it as its evidence
    assert response.status_code == 201, response.content
    assert response.json()["decision_id"] == decision_id


def test_a_claim_with_someone_elses_or_a_made_up_decision_is_refused(
    job_client, requirement, bob, api_client, consent_purpose
):
    from rest_framework.test import APIClient

    # given decisions that are not this job's allow for this dataset and purpose
    other, _ = make_service_account(bob, name="other-job")
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION=f"Bearer {_token_for(other)}")
    someone_elses = check(stranger)["decision_id"]
    other_purpose = check(job_client, purpose="churn-model")["decision_id"]
    before = state()
    for decision_id in (someone_elses, other_purpose, "not-a-real-decision"):
        # when the job claims with one of them
        response = acquire(job_client, 0.1, decision_id=decision_id)
        # then it is refused and nothing changed but the refusal
        assert response.status_code == 400, response.content
        error = response.json()["error"]
        assert error["message"] == budget.MSG_DECISION
        assert error["details"] == {"field": "decision_id"}
    assert state() == before
    assert LedgerEntry.objects.filter(event="access.budget_claim_refused").count() == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"block_days": 1099511627776}, "block_days"),
        ({"block_days": 36501}, "block_days"),
        ({"lock_seconds": 4611686018427387904}, "lock_seconds"),
        ({"lock_seconds": 2592001}, "lock_seconds"),
    ],
)
def test_out_of_range_block_days_or_lock_seconds_are_a_400_naming_the_field(
    api_client, alice, tickets, body, field
):
    api_client.force_authenticate(alice)
    before = state()
    response = api_client.post(
        "/api/v1/budget/requirements",
        {"dataset": "support-tickets", "epsilon": 1.0, **body},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert field in str(response.json()["error"]["details"])
    assert state() == before


def test_the_schema_states_the_maximums_of_block_days_and_lock_seconds(client, alice):
    import yaml

    client.force_login(alice)
    schema = yaml.safe_load(client.get("/api/schema/").content)
    properties = schema["components"]["schemas"]["BudgetRequirementInputRequest"]["properties"]
    assert properties["block_days"]["maximum"] == budget.MAX_BLOCK_DAYS
    assert properties["lock_seconds"]["maximum"] == budget.MAX_LOCK_SECONDS


@pytest.mark.parametrize(
    "epsilon",
    [True, False, "\u0661", "0.\u0661", "\uff11"],
    ids=["true", "false", "arabic-indic", "arabic-indic-fraction", "fullwidth"],
)
def test_booleans_and_non_ascii_digits_are_not_amounts(job_client, requirement, epsilon):
    before = state()
    response = acquire(job_client, epsilon)
    assert response.status_code == 400, response.content
    assert "epsilon" in str(response.json()["error"]["details"])
    assert state() == before


def test_a_claim_is_rounded_up_to_the_quantum_never_down(job_client, requirement):
    response = acquire(job_client, 1.0000004 - 0.9, delta=1.5e-18)
    assert response.status_code == 201, response.content
    claim = BudgetClaim.objects.get(pk=response.json()["id"])
    assert claim.epsilon == Decimal("0.100001")
    assert claim.delta == Decimal("0.000000000000000002")


def test_a_claim_of_just_over_the_budget_is_refused(job_client, requirement):
    response = acquire(job_client, "1.0000004")
    assert response.status_code == 409, response.content


def test_a_budget_is_rounded_down_to_the_quantum(alice, tickets):
    requirement = budget.budget_requirement_set(actor=alice, dataset=tickets, epsilon="1.0000009")
    assert requirement.epsilon == Decimal("1.000000")


def test_a_lapsed_lock_reads_expired_before_the_sweeper_runs(job_client, alice, tickets, job):
    budget.budget_requirement_set(actor=alice, dataset=tickets, epsilon=1.0, lock_seconds=60)
    claim = acquire(job_client, 0.1).json()
    assert job_client.get(f"{CLAIMS}/{claim['id']}").json()["status"] == "locked"
    with time_machine.travel(timezone.now() + timedelta(seconds=61), tick=False):
        assert job_client.get(f"{CLAIMS}/{claim['id']}").json()["status"] == "expired"
    assert BudgetClaim.objects.get(pk=claim["id"]).status == "locked"  # the sweeper has not run


def test_starts_at_can_be_corrected_while_no_claim_was_made(alice, tickets, requirement):
    corrected = timezone.now() - timedelta(days=90)
    replaced = budget.budget_requirement_set(
        actor=alice, dataset=tickets, epsilon=1.0, block_days=30, starts_at=corrected
    )
    assert replaced.starts_at == corrected


def test_starts_at_is_fixed_once_claims_were_made(job_client, alice, tickets, requirement):
    assert acquire(job_client, 0.1).status_code == 201
    with pytest.raises(Exception) as refused:
        budget.budget_requirement_set(
            actor=alice,
            dataset=tickets,
            epsilon=1.0,
            starts_at=timezone.now() - timedelta(days=90),
        )
    assert refused.value.message == budget.MSG_BLOCKS_FIXED


def test_a_budget_for_another_scope_says_what_to_do(alice, tickets, requirement):
    with pytest.raises(Exception) as refused:
        budget.budget_requirement_set(
            actor=alice, dataset=tickets, epsilon=1.0, purpose_slug="ticket-routing"
        )
    assert refused.value.status_code == 409
    assert "retire" not in refused.value.message
    assert refused.value.message == budget.MSG_MIXED.format(
        dataset="support-tickets", scope="every purpose", other="ticket-routing"
    )

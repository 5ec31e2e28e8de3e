"""Contract gaps of the access API (issue "Correct under faults", items 3 and 7): a grant
stays usable across a new purpose version once its terms are acknowledged again; a grant's
status is right the moment it expires, not when the beat job runs; creating an access request
is idempotent and a duplicate pending request is a 409 naming the first."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from consent import services as consent
from consent.models import Purpose
from governance.access import services
from governance.access.models import AccessRequest
from tests.access.conftest import request_and_approve
from tests.accounts.factories import make_service_account
from tests.consent.factories import make_notice
from tests.test_api_shell import _token_for

pytestmark = pytest.mark.django_db


def _check(api_client, token):
    return api_client.post(
        "/api/v1/access/check",
        {"dataset": "support-tickets", "purpose": "ticket-routing"},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    ).json()


def test_acknowledging_after_a_new_purpose_version_lets_the_check_allow_again(
    api_client, client, bob, alice, petra, approved_for_routing, tickets
):
    # given a job allowed under version 1
    account, _ = make_service_account(bob, name="router-job")
    request = request_and_approve(
        bob, alice, tickets, fields=("email",), principal="service_account:router-job"
    )
    services.grant_acknowledge(actor=bob, grant=request.grant)
    token = _token_for(account)
    assert _check(api_client, token)["decision"] == "allow"
    # when version 2 becomes active, the terms changed: the check asks again
    v1 = Purpose.objects.get(slug="ticket-routing")
    draft = consent.purpose_new_version(purpose=v1, actor=alice)
    make_notice(draft)
    consent.purpose_submit(purpose=draft, actor=alice)
    consent.purpose_activate(purpose=draft, actor=petra)
    assert [r["code"] for r in _check(api_client, token)["reasons"]] == ["acknowledgement_missing"]
    # and the owner acknowledges through the API
    client.force_login(bob)
    acknowledged = client.post(f"/api/v1/access/grants/{request.grant.pk}/acknowledge")
    # then the check allows again
    assert acknowledged.status_code == 200
    assert acknowledged.json()["terms_version"] == "ticket-routing@v2"
    assert _check(api_client, token)["decision"] == "allow"


def test_a_grant_reads_expired_the_moment_it_expires(
    client, bob, alice, approved_for_routing, tickets
):
    request = request_and_approve(bob, alice, tickets, fields=("email",), days=1)
    with time_machine.travel(timezone.now() + timedelta(days=1, minutes=1), tick=False):
        client.force_login(bob)  # sessions end after a day idle; sign in at the later moment
        listed = client.get("/api/v1/access/grants").json()["results"]
    assert [(g["id"], g["status"]) for g in listed] == [(request.grant.pk, "expired")]


def _create(client, key=None, **overrides):
    body = {
        "dataset": "support-tickets",
        "purpose": "ticket-routing",
        "fields": ["email"],
        "duration_days": 5,
        "justification": "Route tickets by the sender's domain.",
    } | overrides
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(
        "/api/v1/access/requests/create", body, content_type="application/json", **headers
    )


def test_creating_a_request_twice_with_one_idempotency_key_creates_it_once(
    client, bob, approved_for_routing
):
    client.force_login(bob)
    first = _create(client, key="req-1")
    again = _create(client, key="req-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert AccessRequest.objects.count() == 1


def test_the_same_key_with_another_body_is_a_conflict(client, bob, approved_for_routing):
    client.force_login(bob)
    assert _create(client, key="req-1").status_code == 201
    other = _create(client, key="req-1", duration_days=7)
    assert other.status_code == 409
    assert other.json()["error"]["details"]["field"] == "idempotency_key"
    assert AccessRequest.objects.count() == 1


def test_a_duplicate_pending_request_is_a_409_naming_the_first(client, bob, approved_for_routing):
    client.force_login(bob)
    first = _create(client)
    duplicate = _create(client, justification="Asking once more, in other words.")
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["details"]["request"] == first.json()["id"]
    assert AccessRequest.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_submissions_create_one_request(bob, approved_for_routing):
    """Two workers submit the same request at once (a client retrying on a timeout): the
    dataset's row lock serializes them, so one creates and the other replays or is refused."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    from datasets.models import Dataset

    dataset = Dataset.objects.get(slug="support-tickets")
    barrier = threading.Barrier(2)

    def submit(key):
        try:
            barrier.wait(5)
            made = services.access_request_create(
                requester=bob,
                dataset=dataset,
                purpose_slug="ticket-routing",
                fields=["email"],
                duration_days=5,
                justification="Route tickets by the sender's domain.",
                idempotency_key=key,
            )
            return ("replayed" if getattr(made, "replayed", False) else "created", made.pk)
        except Exception as error:  # reported below
            return (type(error).__name__, getattr(error, "extra", {}).get("request"))
        finally:
            connections.close_all()

    with ThreadPoolExecutor(2) as pool:
        same_key = sorted(pool.map(submit, ["retry-1", "retry-1"]))
    assert [outcome for outcome, _ in same_key] == ["created", "replayed"]
    assert same_key[0][1] == same_key[1][1]
    barrier.reset()
    with ThreadPoolExecutor(2) as pool:
        without_key = list(pool.map(submit, ["", ""]))
    assert without_key == [("Conflict", same_key[0][1])] * 2
    assert AccessRequest.objects.count() == 1


def test_a_job_reads_the_purpose_and_notices_of_its_grant_and_no_other(
    api_client, bob, alice, approved_for_routing, consent_purpose, tickets
):
    # given a job whose only right is a grant for ticket-routing (no consent capability)
    account, _ = make_service_account(bob, name="router-job")
    request_and_approve(bob, alice, tickets, principal="service_account:router-job")
    make_notice(Purpose.objects.get(slug="ticket-routing"))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {_token_for(account)}")
    # when it reads the purposes
    listed = api_client.get("/api/v1/consent/purposes")
    detail = api_client.get("/api/v1/consent/purposes/ticket-routing")
    other = api_client.get("/api/v1/consent/purposes/churn-model")
    # then it sees its grant's purpose with the notices, and nothing of the other
    assert listed.status_code == 200
    assert [p["slug"] for p in listed.json()["results"]] == ["ticket-routing"]
    assert detail.status_code == 200
    assert detail.json()["notices"]
    assert other.status_code == 404


def test_without_a_grant_or_capability_a_job_reads_no_purpose(api_client, bob, router_purpose):
    account, _ = make_service_account(bob, name="idle-job")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {_token_for(account)}")
    assert api_client.get("/api/v1/consent/purposes").status_code == 403
    assert api_client.get("/api/v1/consent/purposes/ticket-routing").status_code == 403


def test_acknowledging_while_the_new_version_is_a_draft_does_not_sign_the_draft(
    api_client, client, bob, alice, petra, approved_for_routing, tickets
):
    """A draft may still change before it is activated: acknowledging then records the
    version in force, and activation of the (changed) draft asks for the terms again."""
    account, _ = make_service_account(bob, name="router-job")
    request = request_and_approve(
        bob, alice, tickets, fields=("email",), principal="service_account:router-job"
    )
    token = _token_for(account)
    draft = consent.purpose_new_version(
        purpose=Purpose.objects.get(slug="ticket-routing", version=1), actor=alice
    )
    client.force_login(bob)
    acknowledged = client.post(f"/api/v1/access/grants/{request.grant.pk}/acknowledge")
    assert acknowledged.json()["terms_version"] == "ticket-routing@v1"
    draft.description = "NEW TERMS: the data may also be sold to third parties."
    draft.save(update_fields=["description"])
    make_notice(draft)
    consent.purpose_submit(purpose=draft, actor=alice)
    consent.purpose_activate(purpose=draft, actor=petra)
    assert [r["code"] for r in _check(api_client, token)["reasons"]] == ["acknowledgement_missing"]


def test_an_expired_grant_cannot_be_acknowledged_or_revoked(
    bob, alice, tickets, approved_for_routing
):
    from governance.errors import Conflict

    request = request_and_approve(bob, alice, tickets, fields=("email",), days=1)
    later = timezone.now() + timedelta(days=1, minutes=1)
    with time_machine.travel(later, tick=False):
        with pytest.raises(Conflict) as acknowledged:
            services.grant_acknowledge(actor=bob, grant=request.grant)
        with pytest.raises(Conflict):
            services.grant_revoke(actor=alice, grant=request.grant, reason="No longer needed.")
    assert "expired" in acknowledged.value.message


def test_a_blank_idempotency_key_is_refused(client, bob, approved_for_routing):
    client.force_login(bob)
    response = _create(client, key="   ")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["field"] == "idempotency_key"
    assert AccessRequest.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_one_key_sent_at_once_for_two_datasets_is_one_request_and_a_409(
    bob, alice, petra, router_purpose
):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    from datasets import services as catalog
    from tests.access.conftest import TICKET_FIELDS
    from tests.datasets.factories import ANSWERS, make_dataset

    datasets = []
    for slug in ("tickets-a", "tickets-b"):
        dataset = make_dataset(alice, slug=slug, fields=TICKET_FIELDS)
        catalog.dataset_submit(actor=alice, dataset=dataset, **ANSWERS)
        catalog.dataset_approve(actor=petra, dataset=dataset)
        services.purpose_approval_create(
            actor=petra, dataset=dataset, purpose_slug="ticket-routing"
        )
        datasets.append(dataset)
    barrier = threading.Barrier(2)

    def submit(dataset):
        try:
            barrier.wait(5)
            services.access_request_create(
                requester=bob,
                dataset=dataset,
                purpose_slug="ticket-routing",
                fields=["email"],
                duration_days=5,
                justification="Route tickets by the sender's domain.",
                idempotency_key="same-key",
            )
            return "created"
        except Exception as error:  # reported below
            return type(error).__name__
        finally:
            connections.close_all()

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(submit, datasets))
    assert outcomes == ["Conflict", "created"]
    assert AccessRequest.objects.count() == 1

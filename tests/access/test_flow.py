"""Request → approve (two approvers where needed) → acknowledge → check allows with a lease →
revoke → check denies; expiry with time travel; the refusals are recorded."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from datasets import services as catalog
from governance.access import services
from governance.access.models import AccessRequest, Grant, PurposeApproval
from governance.audit.models import LedgerEntry
from governance.errors import ApplicationError, Conflict, NotPermitted
from tests.access.conftest import SURVEY_FIELDS, request_and_approve
from tests.accounts.factories import make_service_account
from tests.consent.factories import make_purpose
from tests.datasets.factories import ANSWERS, make_dataset


def check(principal, dataset="support-tickets", purpose="ticket-routing", fields=None):
    return services.check_access(
        principal=principal, dataset_slug=dataset, purpose_slug=purpose, fields=fields
    )


def reasons(result) -> list[str]:
    return [r["code"] for r in result.decision.reasons]


def test_the_whole_flow_through_the_services(
    bob, alice, approved_for_routing, tickets, django_capture_on_commit_callbacks
):
    # given bob requests access; alice (steward) is told
    with django_capture_on_commit_callbacks(execute=True):
        request = services.access_request_create(
            requester=bob,
            dataset=tickets,
            purpose_slug="ticket-routing",
            fields=["ticket_id", "email"],
            duration_days=30,
            justification="Train the ticket router on last year's tickets.",
        )
    assert [m.to for m in mail.outbox] == [["alice@example.org"]]
    assert check(bob).decision.allow is False
    # when alice approves
    with django_capture_on_commit_callbacks(execute=True):
        services.access_request_approve(actor=alice, request=request)
    request.refresh_from_db()
    grant = request.grant
    assert request.status == "approved"
    assert (grant.fields, grant.status) == (["ticket_id", "email"], "active")
    assert grant.expires_at == grant.starts_at + timedelta(days=30)
    assert mail.outbox[-1].to == ["bob@example.org"]
    # then the check still denies until bob acknowledges the purpose's terms
    assert reasons(check(bob)) == ["acknowledgement_missing"]
    services.grant_acknowledge(actor=bob, grant=grant)
    result = check(bob)
    assert result.decision.allow
    assert result.decision.fields == ("ticket_id", "email")
    assert result.decision.obligations == {
        "fields": {"ticket_id": "keep", "email": "pseudonymize"},
        "pseudonymize": {
            "key_endpoint": "/api/v1/access/pseudonym-keys",
            "purpose": "ticket-routing",
        },
    }
    assert result.decision.expires_at == grant.expires_at
    assert result.lease
    # a field outside the grant is refused
    assert reasons(check(bob, fields=["message"])) == ["field_not_granted"]
    # revoke → grant_revoked
    services.grant_revoke(actor=alice, grant=grant, reason="project ended")
    assert reasons(check(bob)) == ["grant_revoked"]
    # every decision is in the ledger, allowed and denied
    decisions = LedgerEntry.objects.filter(event="access.check").order_by("id")
    assert [e.additional_data["decision"] for e in decisions] == [
        "deny",
        "deny",
        "allow",
        "deny",
        "deny",
    ]
    assert decisions[2].additional_data["facts"]["approval_found"] is True
    assert decisions[2].actor == bob


def test_expiry_is_an_event_and_owners_are_reminded(
    bob, alice, approved_for_routing, tickets, django_capture_on_commit_callbacks
):
    request = request_and_approve(bob, alice, tickets, days=10)
    grant = request.grant
    services.grant_acknowledge(actor=bob, grant=grant)
    start = grant.starts_at
    # four days before expiry the owner is reminded, once
    with time_machine.travel(start + timedelta(days=6), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert services.grants_expire() == {"expired": 0, "reminded": 1}
        assert services.grants_expire() == {"expired": 0, "reminded": 0}
    assert mail.outbox[-1].to == ["bob@example.org"]
    assert "expires" in mail.outbox[-1].subject
    # after expiry the job marks it and the check says so
    with time_machine.travel(start + timedelta(days=10, seconds=1), tick=False):
        assert reasons(check(bob)) == ["grant_expired"]
        assert services.grants_expire() == {"expired": 1, "reminded": 0}
        assert services.grants_expire() == {"expired": 0, "reminded": 0}
        assert reasons(check(bob)) == ["grant_expired"]
    grant.refresh_from_db()
    assert grant.status == "expired"
    event = LedgerEntry.objects.get(event="access.grant_expired")
    assert event.object_pk == str(grant.pk)
    assert event.actor is None


def test_requester_never_approves_their_own_request(alice, approved_for_routing, tickets):
    request = services.access_request_create(
        requester=alice,
        dataset=tickets,
        purpose_slug="ticket-routing",
        fields=["email"],
        duration_days=5,
        justification="I steward it and want to train on it myself.",
    )
    with pytest.raises(NotPermitted, match="someone else must approve"):
        services.access_request_approve(actor=alice, request=request)
    request.refresh_from_db()
    assert request.status == "pending"
    assert not Grant.objects.exists()
    refused = LedgerEntry.objects.get(event="access.approval_refused")
    assert refused.actor == alice
    assert refused.additional_data["code"] == "permission_denied"


def test_a_steward_of_another_dataset_cannot_approve(bob, carol, approved_for_routing, tickets):
    request = services.access_request_create(
        requester=bob,
        dataset=tickets,
        purpose_slug="ticket-routing",
        fields=["email"],
        duration_days=5,
        justification="Train the ticket router on last year's tickets.",
    )
    with pytest.raises(NotPermitted, match="Only a steward of this dataset"):
        services.access_request_approve(actor=carol, request=request)
    assert AccessRequest.objects.get(pk=request.pk).steward_approved_by is None
    assert LedgerEntry.objects.filter(event="access.approval_refused", actor=carol).exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"fields": ["email", "salary"]}, "no fields named: salary"),
        ({"fields": []}, "Name at least one field"),
        ({"duration_days": 61}, "1-60 days for a confidential dataset"),
        ({"justification": "because"}, "at least 20 characters"),
        ({"purpose_slug": "nope"}, "No active purpose"),
        ({"principal": "service_account:not-mine"}, "service account you own"),
        ({"principal": "role:admin"}, "a role you hold"),
    ],
)
def test_bad_requests_are_refused_and_recorded(
    bob, approved_for_routing, tickets, changes, message
):
    values = {
        "requester": bob,
        "dataset": tickets,
        "purpose_slug": "ticket-routing",
        "fields": ["email"],
        "duration_days": 30,
        "justification": "Train the ticket router on last year's tickets.",
    } | changes
    with pytest.raises(ApplicationError, match=message):
        services.access_request_create(**values)
    assert not AccessRequest.objects.exists()
    assert LedgerEntry.objects.get(event="access.request_refused").actor == bob


def test_special_categories_need_a_steward_and_a_privacy_officer(bob, alice, petra, db):
    # given a restricted dataset approved for a purpose with an Art. 9 condition
    survey = make_dataset(alice, slug="health-survey", fields=SURVEY_FIELDS)
    catalog.dataset_submit(actor=alice, dataset=survey, **ANSWERS)
    catalog.dataset_approve(actor=petra, dataset=survey, note="Checked as described.")
    make_purpose(
        "health-research",
        legal_basis="public_task",
        owner=alice,
        data_categories=["user.unique_id", "user.health_and_medical"],
        special_categories=True,
        special_category_condition="research",
        dpia_reference="DPIA-7",
    )
    services.purpose_approval_create(actor=petra, dataset=survey, purpose_slug="health-research")
    request = services.access_request_create(
        requester=bob,
        dataset=survey,
        purpose_slug="health-research",
        fields=["respondent_id", "diagnosis"],
        duration_days=30,
        justification="Model the diagnosis prevalence per region.",
    )
    assert request.needs_privacy_officer
    # the steward's approval alone grants nothing
    services.access_request_approve(actor=alice, request=request)
    request.refresh_from_db()
    assert (request.status, request.steward_approved_by) == ("pending", alice)
    assert not Grant.objects.exists()
    # bob has no privacy training: the privacy officer's approval is refused, nothing changes
    with pytest.raises(ApplicationError, match="bob holds no current privacy training"):
        services.access_request_approve(actor=petra, request=request)
    assert AccessRequest.objects.get(pk=request.pk).privacy_approved_by is None
    services.training_record(
        actor=petra,
        user=bob,
        course="GDPR basics",
        completed_at=timezone.now() - timedelta(days=360),
        expires_at=timezone.now() + timedelta(days=5),
    )
    services.access_request_approve(actor=petra, request=request)
    request.refresh_from_db()
    assert request.status == "approved"
    grant = request.grant
    services.grant_acknowledge(actor=bob, grant=grant)
    result = check(bob, dataset="health-survey", purpose="health-research")
    assert result.decision.allow
    assert result.decision.obligations["fields"] == {"respondent_id": "keep", "diagnosis": "drop"}
    # training bounds the answer
    training = bob.training_attestations.get()
    assert result.decision.expires_at == training.expires_at < grant.expires_at
    with time_machine.travel(training.expires_at + timedelta(seconds=1), tick=False):
        assert "training_expired" in reasons(
            check(bob, dataset="health-survey", purpose="health-research")
        )


def test_a_service_account_uses_its_grant_after_its_owner_acknowledged(
    bob, alice, approved_for_routing, tickets
):
    account, _ = make_service_account(bob, name="router-training")
    request = request_and_approve(bob, alice, tickets, principal="service_account:router-training")
    grant = request.grant
    assert grant.principal_user == account.user
    assert reasons(check(account.user)) == ["acknowledgement_missing"]
    with pytest.raises(NotPermitted):
        services.grant_acknowledge(actor=account.user, grant=grant)
    services.grant_acknowledge(actor=bob, grant=grant)
    result = check(account.user)
    assert result.decision.allow
    assert result.principal == "service_account:router-training"
    # bob himself holds no grant
    assert reasons(check(bob)) == ["no_grant"]


def test_role_grants_apply_to_members_who_acknowledged(
    bob, alice, ada, approved_for_routing, tickets
):
    grant = services.grant_create_direct(
        actor=ada,
        dataset=tickets,
        purpose_slug="ticket-routing",
        fields=["email"],
        expires_at=timezone.now() + timedelta(days=10),
        reason="Hackathon week",
        principal_group=bob.groups.get(name="engineer"),
    )
    assert grant.direct
    assert reasons(check(bob)) == ["acknowledgement_missing"]
    services.grant_acknowledge(actor=bob, grant=grant)
    assert check(bob).decision.allow


def test_direct_grants_are_admin_only_and_bounded(bob, alice, ada, approved_for_routing, tickets):
    with pytest.raises(NotPermitted, match="Only administrators"):
        services.grant_create_direct(
            actor=alice,
            dataset=tickets,
            purpose_slug="ticket-routing",
            fields=["email"],
            principal_user=bob,
            reason="x",
            expires_at=timezone.now() + timedelta(days=1),
        )
    with pytest.raises(ApplicationError, match="1-60 days"):
        services.grant_create_direct(
            actor=ada,
            dataset=tickets,
            purpose_slug="ticket-routing",
            fields=["email"],
            principal_user=bob,
            reason="x",
            expires_at=timezone.now() + timedelta(days=61),
        )
    with pytest.raises(ApplicationError, match="expiry after its start"):
        services.grant_create_direct(
            actor=ada,
            dataset=tickets,
            purpose_slug="ticket-routing",
            fields=["email"],
            principal_user=bob,
            reason="x",
            expires_at=timezone.now() - timedelta(days=1),
        )
    assert not Grant.objects.exists()


def test_no_grant_on_a_retired_dataset(bob, alice, ada, approved_for_routing, tickets):
    catalog.dataset_retire(actor=alice, dataset=tickets, reason="replaced")
    with pytest.raises(ApplicationError, match="retired"):
        services.grant_create_direct(
            actor=ada,
            dataset=tickets,
            purpose_slug="ticket-routing",
            fields=["email"],
            principal_user=bob,
            reason="x",
            expires_at=timezone.now() + timedelta(days=1),
        )
    assert not Grant.objects.exists()


def test_purpose_approval_is_refused_for_categories_the_purpose_does_not_permit(
    petra, tickets, alice
):
    make_purpose(
        "email-only",
        legal_basis="legitimate_interests",
        owner=alice,
        data_categories=["user.contact"],
    )
    with pytest.raises(
        ApplicationError,
        match=r"does not permit these data categories of the dataset: user\.content\.private",
    ):
        services.purpose_approval_create(actor=petra, dataset=tickets, purpose_slug="email-only")
    assert not PurposeApproval.objects.exists()
    assert LedgerEntry.objects.filter(event="access.purpose_approval_refused").count() == 1


def test_special_categories_need_an_art9_condition_on_the_purpose(petra, alice):
    survey = make_dataset(alice, slug="health-survey", fields=SURVEY_FIELDS)
    catalog.dataset_submit(actor=alice, dataset=survey, **ANSWERS)
    catalog.dataset_approve(actor=petra, dataset=survey, note="Checked as described.")
    make_purpose(
        "no-condition", legal_basis="legitimate_interests", owner=alice, data_categories=["user"]
    )
    with pytest.raises(ApplicationError, match=r"no Art\. 9"):
        services.purpose_approval_create(actor=petra, dataset=survey, purpose_slug="no-condition")
    assert not PurposeApproval.objects.exists()


def test_only_a_privacy_officer_approves_purposes(alice, tickets, router_purpose):
    with pytest.raises(NotPermitted, match="Only a privacy officer"):
        services.purpose_approval_create(
            actor=alice, dataset=tickets, purpose_slug="ticket-routing"
        )
    assert not PurposeApproval.objects.exists()


def test_decisions_once_only(bob, alice, approved_for_routing, tickets):
    request = request_and_approve(bob, alice, tickets)
    with pytest.raises(Conflict, match="This request is approved"):
        services.access_request_deny(actor=alice, request=request, reason="changed my mind")
    with pytest.raises(Conflict):
        services.access_request_approve(actor=alice, request=request)


def test_service_account_page_lists_its_grants(client, bob, alice, approved_for_routing, tickets):
    make_service_account(bob, name="router-training")
    request_and_approve(bob, alice, tickets, principal="service_account:router-training")
    client.force_login(bob)
    html = client.get("/accounts/service-accounts/router-training/").content.decode()
    assert 'data-testid="service-account-grants"' in html
    assert "support-tickets" in html and "ticket-routing" in html


def test_dataset_page_links_to_who_has_access_for_its_stewards(client, alice, bob, tickets):
    client.force_login(alice)
    html = client.get("/datasets/support-tickets/").content.decode()
    assert 'href="/access/datasets/support-tickets/"' in html
    client.force_login(bob)
    html = client.get("/datasets/support-tickets/").content.decode()
    assert "/access/datasets/support-tickets/" not in html

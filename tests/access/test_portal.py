"""Portal pages of access governance: my access, the request form, the inbox, a request's page,
a dataset's access page, purpose approvals and training — who sees what, what each POST
changes, and that refused input changes nothing."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from datasets import services as catalog
from governance.access import services
from governance.access.models import (
    AccessRequest,
    Acknowledgement,
    Grant,
    PurposeApproval,
    RequestComment,
    TrainingAttestation,
)
from governance.access.services.approvals import MSG_CATEGORIES
from governance.access.services.approvals import MSG_REASON as MSG_APPROVAL_REASON
from governance.access.services.common import terms_for
from governance.access.services.grants import (
    MSG_DURATION,
    MSG_FIELDS_UNKNOWN,
    MSG_JUSTIFICATION,
    MSG_NOT_APPROVED_FOR_PURPOSE,
    MSG_REASON,
    MSG_SELF_APPROVAL,
)
from governance.audit.models import LedgerEntry
from governance.errors import ApplicationError
from tests.access.conftest import SURVEY_FIELDS, request_and_approve
from tests.accounts.factories import UserFactory, make_service_account
from tests.consent.factories import make_purpose
from tests.datasets.factories import ANSWERS, make_dataset

JUSTIFICATION = "Train the ticket router on last year's tickets."


def text(response) -> str:
    return html.unescape(response.content.decode())


def post_forms(response) -> list[str]:
    """Every POST form on the page except the sign-out form of the layout."""
    forms = re.findall(r"<form[^>]*>", response.content.decode())
    return [f for f in forms if 'method="post"' in f and "/accounts/logout/" not in f]


def request_data(**overrides) -> dict:
    return {
        "dataset": "support-tickets",
        "purpose": "ticket-routing",
        "fields": ["ticket_id", "email"],
        "duration_days": "30",
        "justification": JUSTIFICATION,
        "principal": "self",
    } | overrides


@pytest.fixture
def pending(bob, tickets, approved_for_routing):
    """Bob asked for email of support-tickets; alice (steward) decides."""
    return services.access_request_create(
        requester=bob,
        dataset=tickets,
        purpose_slug="ticket-routing",
        fields=["email"],
        duration_days=30,
        justification=JUSTIFICATION,
    )


@pytest.fixture
def grant(bob, alice, tickets, approved_for_routing) -> Grant:
    return request_and_approve(bob, alice, tickets).grant


@pytest.fixture
def survey(alice, petra):
    """A restricted dataset (special categories), stewarded by alice, approved for research."""
    dataset = make_dataset(alice, slug="health-survey", fields=SURVEY_FIELDS)
    catalog.dataset_submit(actor=alice, dataset=dataset, **ANSWERS)
    catalog.dataset_approve(actor=petra, dataset=dataset, note="Checked as described.")
    make_purpose(
        "health-research",
        legal_basis="public_task",
        owner=alice,
        data_categories=["user.unique_id", "user.health_and_medical"],
        special_categories=True,
        special_category_condition="research",
        dpia_reference="DPIA-7",
    )
    services.purpose_approval_create(actor=petra, dataset=dataset, purpose_slug="health-research")
    dataset.refresh_from_db()
    return dataset


# --- my access ------------------------------------------------------------------------------


def test_my_access_shows_the_grant_its_terms_and_an_acknowledge_button(client, bob, grant):
    client.force_login(bob)
    response = client.get("/access/")
    assert response.status_code == 200
    page = text(response)
    assert f'data-grant="{grant.pk}"' in page
    assert 'data-state="active"' in page
    assert terms_for(grant.purpose, grant.dataset)[1].split("\n")[0] in page
    assert f'action="/access/grants/{grant.pk}/acknowledge/"' in page
    assert 'data-testid="not-acknowledged"' in page
    assert 'data-testid="expiring"' not in page
    # renewal asks for the same dataset, purpose, fields and principal
    assert (
        "/access/request/?dataset=support-tickets&amp;purpose=ticket-routing&amp;fields=email"
        "&amp;principal=self" in response.content.decode()
    )


def test_acknowledging_records_the_terms_and_the_page_shows_it(client, bob, grant):
    client.force_login(bob)
    response = client.post(f"/access/grants/{grant.pk}/acknowledge/", {"next": "/access/"})
    assert response.status_code == 302
    assert response["Location"] == "/access/"
    ack = Acknowledgement.objects.get(grant=grant)
    version, terms, digest = terms_for(grant.purpose, grant.dataset)
    assert (ack.user, ack.terms_version, ack.terms_text, ack.terms_sha256) == (
        bob,
        version,
        terms,
        digest,
    )
    page = text(client.get("/access/"))
    assert 'data-testid="acknowledged"' in page
    assert f'action="/access/grants/{grant.pk}/acknowledge/"' not in page


def test_a_next_url_elsewhere_is_ignored(client, bob, grant):
    client.force_login(bob)
    response = client.post(
        f"/access/grants/{grant.pk}/acknowledge/", {"next": "https://evil.example/phish"}
    )
    assert response["Location"] == "/access/"


def test_someone_else_cannot_acknowledge_or_revoke_a_grant_they_cannot_see(client, grant):
    dave = UserFactory(username="dave", roles=["engineer"])
    client.force_login(dave)
    assert client.post(f"/access/grants/{grant.pk}/acknowledge/").status_code == 404
    assert client.post(f"/access/grants/{grant.pk}/revoke/", {"reason": "x"}).status_code == 404
    grant.refresh_from_db()
    assert grant.status == "active"
    assert not Acknowledgement.objects.exists()


def test_a_grant_expiring_within_seven_days_is_highlighted(
    client, bob, alice, tickets, approved_for_routing
):
    request_and_approve(bob, alice, tickets, days=5)
    client.force_login(bob)
    page = text(client.get("/access/"))
    assert 'data-testid="expiring"' in page
    assert "expires in 4" in page  # "4 days, 23 hours"


def test_revoking_my_grant_needs_a_reason(client, bob, grant):
    client.force_login(bob)
    response = client.post(f"/access/grants/{grant.pk}/revoke/", {"reason": "  "}, follow=True)
    assert MSG_REASON in text(response)
    grant.refresh_from_db()
    assert (grant.status, grant.revoked_at) == ("active", None)

    response = client.post(f"/access/grants/{grant.pk}/revoke/", {"reason": "project ended"})
    assert response["Location"] == "/access/"
    grant.refresh_from_db()
    assert (grant.status, grant.revoked_by, grant.revoked_reason) == (
        "revoked",
        bob,
        "project ended",
    )
    page = text(client.get("/access/"))
    assert 'data-testid="past-grants"' in page
    assert 'data-testid="no-grants"' in page


def test_my_access_lists_my_requests_and_my_service_accounts(client, bob, pending):
    make_service_account(bob, name="router-training")
    client.force_login(bob)
    page = text(client.get("/access/"))
    assert f'data-request="{pending.pk}"' in page
    assert "Waiting for approval" in page
    assert 'href="/accounts/service-accounts/router-training/"' in page
    assert "0 current grants" in page


def test_a_service_account_grant_shows_under_its_owner(
    client, bob, alice, tickets, approved_for_routing
):
    make_service_account(bob, name="router-training")
    request = request_and_approve(bob, alice, tickets, principal="service_account:router-training")
    client.force_login(bob)
    page = text(client.get("/access/"))
    assert f'data-grant="{request.grant.pk}"' in page
    assert "service_account:router-training" in page
    assert "1 current grant " in page
    assert "principal=service_account%3Arouter-training" in page


def test_my_access_reads_a_fixed_number_of_queries_however_many_grants(
    client, bob, alice, tickets, approved_for_routing, consent_purpose, petra
):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/access/").status_code == 200
        return len(captured)

    client.force_login(bob)
    request_and_approve(bob, alice, tickets, fields=("email",))
    one = queries()
    services.purpose_approval_create(actor=petra, dataset=tickets, purpose_slug="churn-model")
    request_and_approve(bob, alice, tickets, purpose="churn-model", fields=("message",))
    request_and_approve(bob, alice, tickets, fields=("ticket_id",))
    assert queries() == one


# --- request form ---------------------------------------------------------------------------


def test_the_request_form_offers_approved_datasets_their_approved_purposes_and_principals(
    client, bob, tickets, approved_for_routing, consent_purpose
):
    make_service_account(bob, name="router-training")
    client.force_login(bob)
    response = client.get("/access/request/")
    assert response.status_code == 200
    page = text(response)
    assert '<option value="support-tickets">' in page
    # no purpose before a dataset is chosen: purposes depend on the dataset
    assert "— choose a dataset first —" in page
    assert '<option value="ticket-routing"' not in page
    # with the dataset, only the purpose it is approved for (churn-model is active too)
    page = text(client.get("/access/request/", {"dataset": "support-tickets"}))
    assert '<option value="ticket-routing" selected>' in page
    assert '<option value="churn-model"' not in page
    for principal in ("self", "role:engineer", "service_account:router-training"):
        assert f'<option value="{principal}"' in page


def test_a_renew_link_prefills_the_form_with_ticked_fields(
    client, bob, tickets, approved_for_routing
):
    client.force_login(bob)
    page = text(
        client.get(
            "/access/request/",
            {"dataset": "support-tickets", "purpose": "ticket-routing", "fields": "email"},
        )
    )
    assert '<option value="support-tickets" selected>' in page
    assert '<option value="ticket-routing" selected>' in page
    assert '<input type="checkbox" name="fields" value="email" checked>' in page
    assert '<input type="checkbox" name="fields" value="message" >' in page
    assert "at most 60 days" in page


def test_choosing_a_dataset_loads_its_fields_as_checkboxes(
    client, bob, tickets, approved_for_routing
):
    client.force_login(bob)
    response = client.get(
        "/access/request/", {"picker": "1", "dataset": "support-tickets"}, HTTP_HX_REQUEST="true"
    )
    page = text(response)
    assert page.lstrip().startswith('<div id="field-picker"')
    assert [m for m in re.findall(r'name="fields" value="([^"]+)"', page)] == [
        "ticket_id",
        "email",
        "message",
    ]
    assert "Approved for: <code>ticket-routing</code>" in page


def test_requesting_access_through_the_form(client, bob, tickets, approved_for_routing):
    client.force_login(bob)
    response = client.post("/access/request/", request_data())
    created = AccessRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/access/requests/{created.pk}/"
    assert (
        created.requester,
        created.principal_user,
        created.dataset,
        created.purpose_slug,
        created.fields,
        created.duration_days,
        created.justification,
        created.status,
    ) == (bob, bob, tickets, "ticket-routing", ["ticket_id", "email"], 30, JUSTIFICATION, "pending")


def test_fields_may_be_typed_comma_separated(client, bob, tickets, approved_for_routing):
    client.force_login(bob)
    client.post("/access/request/", request_data(fields="email, message ,email"))
    assert AccessRequest.objects.get().fields == ["email", "message"]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"duration_days": "61"},
            "duration_days",
            MSG_DURATION.format(max=60, sensitivity="confidential"),
        ),
        ({"fields": "email,nope"}, "fields", MSG_FIELDS_UNKNOWN.format(names="nope")),
        ({"justification": "because"}, "justification", MSG_JUSTIFICATION),
    ],
)
def test_refused_requests_show_the_error_at_the_field_and_change_nothing(
    client, bob, tickets, approved_for_routing, overrides, field, message
):
    client.force_login(bob)
    response = client.post("/access/request/", request_data(**overrides))
    assert response.status_code == 400
    page = text(response)
    assert re.search(rf'data-testid="{field}-error"><li>{re.escape(message)}</li>', page)
    assert not AccessRequest.objects.exists()
    refusal = LedgerEntry.objects.get(event="access.request_refused")
    assert refusal.additional_data["message"] == message


def test_a_purpose_the_dataset_is_not_approved_for_is_refused(
    client, bob, tickets, consent_purpose
):
    client.force_login(bob)
    response = client.post("/access/request/", request_data(purpose="churn-model"))
    assert re.search(
        rf'data-testid="purpose-error"><li>{re.escape(MSG_NOT_APPROVED_FOR_PURPOSE)}</li>',
        text(response),
    )
    assert not AccessRequest.objects.exists()


def test_people_who_may_not_request_get_a_403(client, audrey, charlie, tickets):
    for person in (audrey, charlie):
        client.force_login(person)
        assert client.get("/access/request/").status_code == 403
        assert client.post("/access/request/", request_data()).status_code == 403
    assert not AccessRequest.objects.exists()


# --- inbox and a request's page -------------------------------------------------------------


def test_the_inbox_shows_a_request_to_the_datasets_steward_only(client, alice, carol, bob, pending):
    client.force_login(alice)
    page = text(client.get("/access/inbox/"))
    assert f'data-request="{pending.pk}"' in page
    assert JUSTIFICATION in page
    for person in (carol, bob):
        client.force_login(person)
        page = text(client.get("/access/inbox/"))
        assert f'data-request="{pending.pk}"' not in page
        assert 'data-testid="inbox-empty"' in page


def test_the_steward_approves_from_the_inbox(client, alice, pending):
    client.force_login(alice)
    response = client.post(
        f"/access/requests/{pending.pk}/",
        {"action": "approve", "note": "ok for the router", "next": "/access/inbox/"},
        follow=True,
    )
    assert response.redirect_chain == [("/access/inbox/", 302)]
    pending.refresh_from_db()
    assert (pending.status, pending.steward_approved_by, pending.decided_by) == (
        "approved",
        alice,
        alice,
    )
    assert pending.decision_reason == "ok for the router"
    grant = Grant.objects.get(request=pending)
    assert f"Request {pending.pk} approved: the grant is active until" in text(response)
    assert (grant.fields, grant.expires_at - grant.starts_at) == (["email"], timedelta(days=30))


def test_denying_needs_a_reason(client, alice, pending):
    client.force_login(alice)
    response = client.post(f"/access/requests/{pending.pk}/", {"action": "deny"}, follow=True)
    assert MSG_REASON in text(response)
    pending.refresh_from_db()
    assert pending.status == "pending"

    client.post(f"/access/requests/{pending.pk}/", {"action": "deny", "reason": "too broad"})
    pending.refresh_from_db()
    assert (pending.status, pending.decided_by, pending.decision_reason) == (
        "denied",
        alice,
        "too broad",
    )
    assert not Grant.objects.exists()


def test_the_requester_cannot_approve_their_own_request(client, bob, pending):
    client.force_login(bob)
    page = text(client.get(f"/access/requests/{pending.pk}/"))
    assert 'data-testid="approve"' not in page
    assert 'data-testid="withdraw"' in page
    response = client.post(f"/access/requests/{pending.pk}/", {"action": "approve"})
    assert response.status_code == 403
    pending.refresh_from_db()
    assert (pending.status, pending.steward_approved_by) == ("pending", None)
    refusal = LedgerEntry.objects.get(event="access.approval_refused")
    assert refusal.additional_data["message"] == MSG_SELF_APPROVAL


def test_a_steward_of_another_dataset_cannot_see_or_decide(client, carol, pending):
    client.force_login(carol)
    assert client.get(f"/access/requests/{pending.pk}/").status_code == 404
    for action in ("approve", "deny", "comment"):
        response = client.post(
            f"/access/requests/{pending.pk}/", {"action": action, "reason": "x", "body": "x"}
        )
        assert response.status_code == 404
    pending.refresh_from_db()
    assert pending.status == "pending"
    assert not RequestComment.objects.exists()


def test_the_requester_withdraws(client, bob, pending):
    client.force_login(bob)
    response = client.post(f"/access/requests/{pending.pk}/", {"action": "withdraw"})
    assert response["Location"] == f"/access/requests/{pending.pk}/"
    pending.refresh_from_db()
    assert (pending.status, pending.decided_by) == ("withdrawn", bob)


def test_requester_and_steward_comment(client, bob, alice, pending):
    client.force_login(bob)
    client.post(f"/access/requests/{pending.pk}/", {"action": "comment", "body": "  "})
    assert not RequestComment.objects.exists()
    client.post(f"/access/requests/{pending.pk}/", {"action": "comment", "body": "Urgent?"})
    client.force_login(alice)
    client.post(f"/access/requests/{pending.pk}/", {"action": "comment", "body": "Which team?"})
    assert [(c.author, c.body) for c in RequestComment.objects.order_by("id")] == [
        (bob, "Urgent?"),
        (alice, "Which team?"),
    ]
    page = text(client.get(f"/access/requests/{pending.pk}/"))
    assert page.count('data-testid="comment"') == 3  # two comments and the button
    assert 'data-testid="approve"' in page


def test_an_unknown_action_changes_nothing(client, alice, pending):
    client.force_login(alice)
    response = client.post(f"/access/requests/{pending.pk}/", {"action": "grant"}, follow=True)
    assert "Unknown action." in text(response)
    pending.refresh_from_db()
    assert pending.status == "pending"


def test_special_category_requests_need_both_approvals(client, alice, petra, bob, survey):
    services.training_record(
        actor=petra,
        user=bob,
        course="Privacy 101",
        completed_at=datetime.now(UTC) - timedelta(days=1),
    )
    item = services.access_request_create(
        requester=bob,
        dataset=survey,
        purpose_slug="health-research",
        fields=["diagnosis"],
        duration_days=10,
        justification=JUSTIFICATION,
    )
    client.force_login(alice)
    client.post(f"/access/requests/{item.pk}/", {"action": "approve"})
    client.force_login(petra)
    assert f'data-request="{item.pk}"' in text(client.get("/access/inbox/"))
    response = client.post(f"/access/requests/{item.pk}/", {"action": "approve"}, follow=True)
    page = text(response)
    assert "alice ·" in page and "petra ·" in page
    item.refresh_from_db()
    assert (item.status, item.steward_approved_by, item.privacy_approved_by) == (
        "approved",
        alice,
        petra,
    )


# --- a dataset's access page ----------------------------------------------------------------


def test_the_steward_sees_who_may_read_the_dataset_and_revokes(client, alice, grant):
    client.force_login(alice)
    response = client.get("/access/datasets/support-tickets/")
    assert response.status_code == 200
    page = text(response)
    assert f'data-grant="{grant.pk}"' in page
    assert "user:bob" in page
    assert "<code>ticket-routing</code>" in page
    response = client.post(
        f"/access/grants/{grant.pk}/revoke/",
        {"reason": "left the team", "next": "/access/datasets/support-tickets/"},
    )
    assert response["Location"] == "/access/datasets/support-tickets/"
    grant.refresh_from_db()
    assert (grant.status, grant.revoked_by, grant.revoked_reason) == (
        "revoked",
        alice,
        "left the team",
    )


def test_the_dataset_access_page_is_for_its_governors(client, carol, bob, grant):
    for person in (carol, bob):
        client.force_login(person)
        assert client.get("/access/datasets/support-tickets/").status_code == 403


def test_an_invisible_dataset_is_not_found(client, alice, carol):
    make_dataset(alice, slug="draft-one")
    client.force_login(carol)
    assert client.get("/access/datasets/draft-one/").status_code == 404
    assert client.get("/access/datasets/no-such-thing/").status_code == 404


def test_a_privacy_officer_approves_the_dataset_for_another_purpose_on_its_page(
    client, petra, tickets, approved_for_routing, alice
):
    make_purpose(
        "fraud-model", legal_basis="legitimate_interests", owner=alice, data_categories=["user"]
    )
    client.force_login(petra)
    page = text(client.get("/access/datasets/support-tickets/"))
    assert '<option value="fraud-model">' in page
    assert '<option value="ticket-routing">' not in page  # already approved
    response = client.post(
        "/access/purpose-approvals/",
        {
            "action": "approve",
            "dataset": "support-tickets",
            "purpose": "fraud-model",
            "note": "fraud team",
            "next": "/access/datasets/support-tickets/",
        },
    )
    assert response["Location"] == "/access/datasets/support-tickets/"
    approval = PurposeApproval.objects.get(purpose_slug="fraud-model")
    assert (approval.dataset, approval.approved_by, approval.note) == (tickets, petra, "fraud team")


# --- purpose approvals ----------------------------------------------------------------------


def test_purpose_approvals_are_listed_for_stewards_without_forms(
    client, alice, approved_for_routing
):
    client.force_login(alice)
    response = client.get("/access/purpose-approvals/")
    assert response.status_code == 200
    assert f'data-approval="{approved_for_routing.pk}"' in text(response)
    assert post_forms(response) == []


def test_engineers_do_not_see_purpose_approvals(client, bob, approved_for_routing):
    client.force_login(bob)
    assert client.get("/access/purpose-approvals/").status_code == 403
    response = client.post(
        "/access/purpose-approvals/",
        {"action": "revoke", "approval": approved_for_routing.pk, "reason": "x"},
    )
    assert response.status_code == 403
    approved_for_routing.refresh_from_db()
    assert approved_for_routing.revoked_at is None


def test_a_steward_cannot_approve_a_purpose(client, alice, tickets, router_purpose):
    client.force_login(alice)
    response = client.post(
        "/access/purpose-approvals/",
        {"action": "approve", "dataset": "support-tickets", "purpose": "ticket-routing"},
    )
    assert response.status_code == 403
    assert not PurposeApproval.objects.exists()
    assert LedgerEntry.objects.filter(event="access.purpose_approval_refused").count() == 1


def test_a_purpose_that_does_not_permit_the_datasets_categories_is_refused(
    client, petra, tickets, alice
):
    make_purpose(
        "marketing",
        legal_basis="legitimate_interests",
        owner=alice,
        data_categories=["user.behavior"],
    )
    client.force_login(petra)
    response = client.post(
        "/access/purpose-approvals/",
        {"action": "approve", "dataset": "support-tickets", "purpose": "marketing"},
    )
    assert response.status_code == 200
    message = MSG_CATEGORIES.format(categories="user.contact.email, user.content.private")
    assert re.search(rf'data-testid="purpose-error"><li>{re.escape(message)}</li>', text(response))
    assert not PurposeApproval.objects.exists()


def test_revoking_a_purpose_approval_needs_a_reason(client, petra, approved_for_routing):
    client.force_login(petra)
    response = client.post(
        "/access/purpose-approvals/",
        {"action": "revoke", "approval": approved_for_routing.pk, "reason": ""},
        follow=True,
    )
    assert MSG_APPROVAL_REASON in text(response)
    approved_for_routing.refresh_from_db()
    assert approved_for_routing.revoked_at is None

    client.post(
        "/access/purpose-approvals/",
        {"action": "revoke", "approval": approved_for_routing.pk, "reason": "purpose changed"},
    )
    approved_for_routing.refresh_from_db()
    assert (approved_for_routing.revoked_by, approved_for_routing.revoked_reason) == (
        petra,
        "purpose changed",
    )


def test_revoking_an_unknown_approval_is_not_found(client, petra):
    client.force_login(petra)
    for pk in ("999", "x"):
        response = client.post(
            "/access/purpose-approvals/", {"action": "revoke", "approval": pk, "reason": "x"}
        )
        assert response.status_code == 404


# --- training -------------------------------------------------------------------------------


def test_a_privacy_officer_records_training(client, petra, bob):
    client.force_login(petra)
    response = client.post(
        "/access/training/",
        {"user": "bob", "course": "Privacy 101", "completed_at": "2026-01-10", "evidence": "C-7"},
    )
    assert response["Location"] == "/access/training/"
    attestation = TrainingAttestation.objects.get()
    assert (
        attestation.user,
        attestation.course,
        attestation.completed_at,
        attestation.expires_at,
        attestation.evidence,
        attestation.recorded_by,
    ) == (
        bob,
        "Privacy 101",
        datetime(2026, 1, 10, tzinfo=UTC),
        datetime(2026, 1, 10, tzinfo=UTC) + timedelta(days=365),
        "C-7",
        petra,
    )


def test_a_training_expiry_before_completion_is_a_form_error(client, ada, bob):
    client.force_login(ada)
    response = client.post(
        "/access/training/",
        {
            "user": "bob",
            "course": "Privacy 101",
            "completed_at": "2026-01-10",
            "expires_at": "2026-01-01",
        },
    )
    assert response.status_code == 200
    assert 'data-testid="expires_at-error"' in text(response)
    assert not TrainingAttestation.objects.exists()


def test_engineers_see_only_their_own_training_and_cannot_record(client, petra, bob):
    other = UserFactory(username="dave", roles=["engineer"])
    services.training_record(
        actor=petra, user=other, course="Privacy 101", completed_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    client.force_login(bob)
    response = client.get("/access/training/")
    assert 'data-testid="no-training"' in text(response)
    assert post_forms(response) == []
    response = client.post(
        "/access/training/",
        {"user": "bob", "course": "Self-certified", "completed_at": "2026-01-10"},
    )
    assert response.status_code == 403
    assert TrainingAttestation.objects.count() == 1


# --- auditors -------------------------------------------------------------------------------


def test_an_auditor_sees_every_page_read_only(client, audrey, bob, alice, grant, pending, petra):
    services.training_record(
        actor=petra, user=bob, course="Privacy 101", completed_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    client.force_login(audrey)
    pages = {
        "/access/": None,
        "/access/inbox/": None,
        f"/access/requests/{pending.pk}/": "Train the ticket router",
        "/access/datasets/support-tickets/": f'data-grant="{grant.pk}"',
        "/access/purpose-approvals/": "ticket-routing",
        "/access/training/": "Privacy 101",
    }
    for url, expected in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        assert post_forms(response) == [], url
        if expected:
            assert expected in text(response), url


def test_long_justifications_and_comments_are_refused_naming_the_limit(
    client, bob, alice, tickets, approved_for_routing
):
    # given
    client.force_login(bob)
    # when the justification is 200,000 characters
    response = client.post("/access/request/", request_data(justification="x" * 200_000))
    # then the form names the limit and nothing is created
    assert response.status_code == 400
    assert "Keep it to 4,000 characters or fewer (this has 200,000)." in text(response)
    assert not AccessRequest.objects.exists()
    # and a comment or an approval note over 2,000 characters is refused by every door
    created = services.access_request_create(
        requester=bob,
        dataset=tickets,
        purpose_slug="ticket-routing",
        fields=["email"],
        duration_days=30,
        justification=JUSTIFICATION,
    )
    api = client.post(
        f"/api/v1/access/requests/{created.pk}/comment",
        {"text": "y" * 2_001},
        content_type="application/json",
    )
    assert api.status_code == 400
    assert "Keep it to 2,000 characters or fewer (this has 2,001)." in api.content.decode()
    assert not created.comments.exists()
    with pytest.raises(ApplicationError) as refused:
        services.access_request_approve(actor=alice, request=created, note="z" * 2_001)
    assert refused.value.extra["field"] == "note"
    created.refresh_from_db()
    assert created.status == "pending"


def test_without_javascript_choosing_a_dataset_shows_its_fields_and_purposes_and_every_error(
    client, bob, tickets, approved_for_routing
):
    client.force_login(bob)
    # when the form is sent with nothing chosen, every problem shows at once
    empty = client.post("/access/request/", {"principal": "self", "justification": "short"})
    assert empty.status_code == 400
    page = text(empty)
    for message in ("Choose the dataset you need.", MSG_JUSTIFICATION, "No active purpose"):
        assert message in page
    # when "Show its fields and purposes" is pressed (no htmx), the same page lists them
    picked = client.post(
        "/access/request/",
        {"dataset": "support-tickets", "pick": "1", "justification": "kept as typed"},
    )
    assert picked.status_code == 200
    page = text(picked)
    assert '<input type="checkbox" name="fields" value="email"' in page
    assert '<select name="purpose" id="id_purpose" data-testid="purpose-select" >' in page
    assert '<option value="ticket-routing"' in page
    assert "kept as typed" in page
    assert 'data-testid="error-summary"' not in page
    assert not AccessRequest.objects.exists()

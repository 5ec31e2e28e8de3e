"""Issue 17, the engineer's path: "Request access" where the dataset is, only the purposes it
is approved for, every error at once, approvers see what each field is, approval notes travel
with the request and the grant, one-click renewal, lists of requests and grants."""

from __future__ import annotations

import html

import pytest

from governance.access import services
from governance.access.models import AccessRequest, Grant
from governance.access.services.grants import (
    MSG_FIELDS_EMPTY,
    MSG_JUSTIFICATION,
    MSG_NOT_APPROVED_FOR_PURPOSE,
)
from tests.access.conftest import SURVEY_FIELDS, request_and_approve
from tests.accounts.factories import UserFactory
from tests.consent.factories import make_purpose
from tests.datasets.factories import ANSWERS, make_dataset

pytestmark = pytest.mark.django_db

JUSTIFICATION = "Train the ticket router on last year's tickets."


def text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def survey(alice, petra):
    from datasets import services as catalog

    dataset = make_dataset(alice, slug="health-survey", fields=SURVEY_FIELDS)
    catalog.dataset_submit(actor=alice, dataset=dataset, **ANSWERS)
    catalog.dataset_approve(actor=petra, dataset=dataset, note="Diagnosis dropped.")
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


def test_request_access_is_offered_on_the_dataset_page_and_the_catalog_row(
    client, bob, tickets, approved_for_routing
):
    client.force_login(bob)
    link = (
        '<a href="/access/request/?dataset=support-tickets" role="button" '
        'data-testid="request-access">'
    )
    assert link in text(client.get("/datasets/support-tickets/"))
    catalog = text(client.get("/datasets/"))
    assert 'href="/access/request/?dataset=support-tickets" data-testid="request-access"' in catalog


def test_auditors_are_not_offered_request_access(client, audrey, tickets):
    client.force_login(audrey)
    assert 'data-testid="request-access"' not in text(client.get("/datasets/support-tickets/"))
    assert 'data-testid="request-access"' not in text(client.get("/datasets/"))


def test_every_problem_of_a_request_shows_at_once_and_nothing_is_created(
    client, bob, tickets, approved_for_routing, consent_purpose
):
    client.force_login(bob)
    response = client.post(
        "/access/request/",
        {
            "dataset": "support-tickets",
            "purpose": "churn-model",  # active, but support-tickets is not approved for it
            "duration_days": "400",
            "justification": "too short",
            "principal": "self",
        },
    )
    assert response.status_code == 400
    page = text(response)
    for message in (MSG_NOT_APPROVED_FOR_PURPOSE, MSG_FIELDS_EMPTY, MSG_JUSTIFICATION):
        assert message in page
    assert 'data-testid="duration_days-error"' in page
    assert not AccessRequest.objects.exists()


def test_the_service_reports_every_problem_in_fields(bob, tickets, approved_for_routing):
    from governance.errors import ApplicationError

    with pytest.raises(ApplicationError) as raised:
        services.access_request_create(
            requester=bob,
            dataset=tickets,
            purpose_slug="ticket-routing",
            fields=[],
            duration_days=0,
            justification="",
        )
    assert set(raised.value.extra["fields"]) == {"fields", "duration_days", "justification"}
    assert not AccessRequest.objects.exists()


def test_approvers_see_each_fields_category_treatment_and_special_category(
    client, bob, alice, petra, survey
):
    UserFactory(username="trained", roles=["engineer"])
    request = services.access_request_create(
        requester=bob,
        dataset=survey,
        purpose_slug="health-research",
        fields=["respondent_id", "diagnosis"],
        duration_days=10,
        justification="Study of diagnoses across the survey waves.",
    )
    client.force_login(alice)
    page = text(client.get("/access/inbox/"))
    assert '<tr data-field="diagnosis">' in page
    assert "<code>user.health_and_medical.diagnosis</code>" in page
    assert 'data-testid="special-flag">Data concerning health (Art. 9)</span>' in page
    assert "Drop" in page
    detail = text(client.get(f"/access/requests/{request.pk}/"))
    assert 'data-testid="special-flag"' in detail


def test_the_stewards_note_reaches_the_privacy_officer_and_both_travel_with_the_grant(
    client, bob, alice, petra, survey, mailoutbox, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    from governance.access.models import TrainingAttestation  # noqa: F401
    from governance.access.services import training_record

    training_record(actor=petra, user=bob, course="GDPR", completed_at=timezone.now())
    request = services.access_request_create(
        requester=bob,
        dataset=survey,
        purpose_slug="health-research",
        fields=["respondent_id"],
        duration_days=10,
        justification="Study of diagnoses across the survey waves.",
    )
    # the steward approves with a condition
    with django_capture_on_commit_callbacks(execute=True):
        services.access_request_approve(
            actor=alice, request=request, note="Aggregate results only."
        )
    # the privacy officer sees it in her inbox and on the request page, and was told by mail
    client.force_login(petra)
    inbox = text(client.get("/access/inbox/"))
    assert '<q data-testid="steward-note">Aggregate results only.</q>' in inbox
    assert any("Aggregate results only." in m.body for m in mailoutbox)
    services.access_request_approve(actor=petra, request=request, note="Delete after the study.")
    grant = Grant.objects.get()
    assert grant.conditions == [
        {"as": "steward", "by": "alice", "note": "Aggregate results only."},
        {"as": "privacy_officer", "by": "petra", "note": "Delete after the study."},
    ]
    # and the engineer reads both with the grant
    client.force_login(bob)
    mine = text(client.get("/access/"))
    assert "<q>Aggregate results only.</q>" in mine
    assert "<q>Delete after the study.</q>" in mine
    detail = text(client.get(f"/access/requests/{request.pk}/"))
    assert "Condition (petra): Delete after the study." in detail


def test_one_click_renewal_asks_again_with_the_same_terms(
    client, bob, alice, tickets, approved_for_routing
):
    grant = request_and_approve(bob, alice, tickets, fields=("email",), days=20).grant
    client.force_login(bob)
    response = client.post(f"/access/grants/{grant.pk}/renew/")
    renewal = AccessRequest.objects.exclude(pk=grant.request_id).get()
    assert response["Location"] == f"/access/requests/{renewal.pk}/"
    assert (renewal.fields, renewal.duration_days, renewal.purpose_slug, renewal.status) == (
        ["email"],
        20,
        "ticket-routing",
        "pending",
    )
    assert renewal.justification.startswith(f"Renewal of grant #{grant.pk}: ")
    # a second click is a duplicate pending request: refused, back to the prefilled form
    again = client.post(f"/access/grants/{grant.pk}/renew/")
    assert again.status_code == 302 and again["Location"].startswith("/access/request/?")
    assert AccessRequest.objects.count() == 2


def test_a_renewal_carries_the_grants_conditions_to_the_approver_and_the_new_grant(
    client, bob, alice, tickets, approved_for_routing
):
    # given a grant approved with a condition
    request = services.access_request_create(
        requester=bob,
        dataset=tickets,
        purpose_slug="ticket-routing",
        fields=["email"],
        duration_days=20,
        justification=JUSTIFICATION,
    )
    services.access_request_approve(actor=alice, request=request, note="Aggregates only.")
    grant = Grant.objects.get()
    # when bob renews it in one click
    client.force_login(bob)
    client.post(f"/access/grants/{grant.pk}/renew/")
    renewal = AccessRequest.objects.exclude(pk=request.pk).get()
    # then the approver sees the conditions that come with it
    client.force_login(alice)
    inbox = text(client.get("/access/inbox/"))
    assert f"Renews grant #{grant.pk}, whose conditions carry over:" in inbox
    assert '<q data-testid="carried-condition">Aggregates only.</q>' in inbox
    detail = text(client.get(f"/access/requests/{renewal.pk}/"))
    assert '<q data-testid="carried-condition">Aggregates only.</q>' in detail
    # and approving it without a note keeps them on the new grant
    services.access_request_approve(actor=alice, request=renewal)
    renewed = Grant.objects.get(request=renewal)
    assert renewed.conditions == [
        {"as": "steward", "by": "alice", "note": "Aggregates only.", "carried_from": grant.pk}
    ]


def test_request_and_grant_lists_sort_filter_and_page_in_constant_queries(
    client, petra, bob, alice, tickets, approved_for_routing, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(petra)
    client.get("/access/requests/")  # warm caches

    def count(path):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)
        assert response.status_code == 200
        return len(queries)

    request_and_approve(bob, alice, tickets, fields=("email",))
    one = (count("/access/requests/?sort=dataset"), count("/access/grants/?sort=-expires"))
    for name in ("eve", "finn", "gus"):
        person = UserFactory(username=name, roles=["engineer"])
        request_and_approve(person, alice, tickets, fields=("email",))
    many = (count("/access/requests/?sort=dataset"), count("/access/grants/?sort=-expires"))
    assert one == many
    page = text(client.get("/access/requests/?status=approved&sort=requester"))
    assert page.index("bob") < page.index("eve") < page.index("gus")
    assert 'aria-sort="ascending"' in page
    assert "No requests match." in text(client.get("/access/requests/?status=denied"))
    # past the last page, the last page (never an error)
    assert client.get("/access/grants/?page=99").status_code == 200

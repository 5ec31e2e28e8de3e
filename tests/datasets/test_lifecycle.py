from __future__ import annotations

import pytest

from datasets import services
from datasets.models import Dataset, DatasetReview
from governance.audit.models import LedgerEntry
from governance.errors import ApplicationError, NotPermitted
from tests.accounts.factories import UserFactory
from tests.datasets.factories import ANSWERS, BASIC_FIELDS, make_approved, make_dataset


def test_submitting_stores_the_answers_as_a_versioned_review(alice):
    # given
    dataset = make_dataset(alice, fields=BASIC_FIELDS)
    # when
    review = services.dataset_submit(actor=alice, dataset=dataset, **ANSWERS)
    # then
    dataset.refresh_from_db()
    assert dataset.status == "in_review"
    assert (review.version, review.decision) == (1, "pending")
    assert review.anonymization == ANSWERS["anonymization"]
    assert review.fields_snapshot[1] == {
        "name": "email",
        "category": "user.contact.email",
        "role": "direct_identifier",
        "special_category": "",
        "treatment": "pseudonymize",
    }
    assert LedgerEntry.objects.filter(event="dataset.submitted", actor=alice).count() == 1


@pytest.mark.parametrize("missing", sorted(ANSWERS))
def test_each_review_question_must_be_answered(alice, missing):
    dataset = make_dataset(alice, fields=BASIC_FIELDS)
    with pytest.raises(ApplicationError, match="Answer the question") as error:
        services.dataset_submit(actor=alice, dataset=dataset, **{**ANSWERS, missing: " n/a "})
    assert error.value.extra == {"field": missing}
    dataset.refresh_from_db()
    assert dataset.status == "draft"
    assert not DatasetReview.objects.exists()


def test_unclassified_fields_block_the_submission(alice):
    dataset = make_dataset(alice, fields=BASIC_FIELDS)
    services.field_create(actor=alice, dataset=dataset, name="notes")
    with pytest.raises(ApplicationError, match="not yet: notes"):
        services.dataset_submit(actor=alice, dataset=dataset, **ANSWERS)
    assert Dataset.objects.get(pk=dataset.pk).status == "draft"


def test_only_a_privacy_officer_approves(alice, bob, petra):
    dataset = make_dataset(alice, fields=BASIC_FIELDS)
    services.dataset_submit(actor=alice, dataset=dataset, **ANSWERS)
    for person in (alice, bob):
        with pytest.raises(NotPermitted, match="Only a privacy officer"):
            services.dataset_approve(actor=person, dataset=dataset)
    assert Dataset.objects.get(pk=dataset.pk).status == "in_review"
    services.dataset_approve(actor=petra, dataset=dataset, note="ok")
    dataset.refresh_from_db()
    assert (dataset.status, dataset.approved_by) == ("approved", petra)
    review = dataset.reviews.get()
    assert (review.decision, review.decided_by, review.decision_note) == ("approved", petra, "ok")


def test_a_privacy_officer_cannot_approve_their_own_submission(petra):
    # given a privacy officer who is also steward of the dataset
    from governance.accounts.services import user_roles_set

    user_roles_set(user=petra, roles=["privacy_officer", "steward"], actor=None)
    dataset = make_dataset(petra, fields=BASIC_FIELDS)
    services.dataset_submit(actor=petra, dataset=dataset, **ANSWERS)
    with pytest.raises(NotPermitted, match="another privacy officer"):
        services.dataset_approve(actor=petra, dataset=dataset)
    assert Dataset.objects.get(pk=dataset.pk).status == "in_review"


def test_transitions_not_allowed_from_the_current_state_are_refused(alice, petra):
    dataset = make_dataset(alice, fields=BASIC_FIELDS)
    with pytest.raises(ApplicationError, match="A dataset that is draft cannot be approved"):
        services.dataset_approve(actor=petra, dataset=dataset)
    with pytest.raises(ApplicationError, match="cannot be reopened"):
        services.dataset_reopen(actor=alice, dataset=dataset, reason="x")
    assert Dataset.objects.get(pk=dataset.pk).status == "draft"


def test_a_retired_dataset_needs_a_new_review_before_approval(alice, petra):
    # given an approved, then retired dataset
    dataset = make_approved(alice, petra)
    services.dataset_retire(actor=alice, dataset=dataset, reason="superseded")
    # then it cannot be approved again directly
    with pytest.raises(ApplicationError, match="retired cannot be approved"):
        services.dataset_approve(actor=petra, dataset=dataset)
    # it comes back as a draft, and only a new review (version 2) leads to approval
    services.dataset_reopen(actor=alice, dataset=dataset, reason="needed again")
    dataset.refresh_from_db()
    assert (dataset.status, dataset.approved_at) == ("draft", None)
    services.dataset_submit(actor=alice, dataset=dataset, **ANSWERS)
    services.dataset_approve(actor=petra, dataset=dataset)
    assert list(dataset.reviews.values_list("version", "decision")) == [
        (2, "approved"),
        (1, "approved"),
    ]


def test_returning_needs_a_note_and_records_it_on_the_review(alice, petra):
    dataset = make_dataset(alice, fields=BASIC_FIELDS)
    services.dataset_submit(actor=alice, dataset=dataset, **ANSWERS)
    with pytest.raises(ApplicationError, match="Give a reason"):
        services.dataset_return(actor=petra, dataset=dataset, note=" ")
    services.dataset_return(actor=petra, dataset=dataset, note="Justify the email field.")
    review = dataset.reviews.get()
    assert (review.decision, review.decision_note) == ("returned", "Justify the email field.")
    assert Dataset.objects.get(pk=dataset.pk).status == "draft"


def test_classification_is_frozen_outside_draft(alice, petra):
    dataset = make_approved(alice, petra)
    field = dataset.fields.get(name="email")
    with pytest.raises(ApplicationError, match="only while the dataset is a draft"):
        services.field_classify(
            actor=alice, field=field, category=None, role="non_personal", treatment="keep"
        )
    field.refresh_from_db()
    assert field.role == "direct_identifier"


def test_lifecycle_events_name_from_and_to(alice, petra):
    make_approved(alice, petra)
    approved = LedgerEntry.objects.get(event="dataset.approved")
    assert approved.actor == petra
    assert approved.additional_data["from"] == "in_review"
    assert approved.additional_data["to"] == "approved"
    assert approved.additional_data["sensitivity"] == "confidential"


def test_stewards_must_hold_the_steward_role(alice, bob):
    dataset = make_dataset(alice)
    with pytest.raises(ApplicationError, match="bob cannot steward datasets"):
        services.dataset_stewards_set(actor=alice, dataset=dataset, stewards=[alice, bob])
    assert [u.username for u in services.dataset_stewards(dataset)] == ["alice"]
    carol = UserFactory(username="carol", roles=["steward"])
    services.dataset_stewards_set(actor=alice, dataset=dataset, stewards=[carol])
    assert [u.username for u in services.dataset_stewards(dataset)] == ["carol"]
    # alice handed it over: she no longer manages it
    with pytest.raises(NotPermitted):
        services.dataset_update(actor=alice, dataset=dataset, name="mine again")


def test_an_administrator_cannot_give_the_privacy_sign_off(alice, ada):
    dataset = make_dataset(alice, fields=BASIC_FIELDS)
    services.dataset_submit(actor=alice, dataset=dataset, **ANSWERS)
    with pytest.raises(NotPermitted, match="Only a privacy officer"):
        services.dataset_approve(actor=ada, dataset=dataset)
    assert Dataset.objects.get(pk=dataset.pk).status == "in_review"

"""The purposes registry: drafts, legal sign-off, versions, notices."""

from __future__ import annotations

import hashlib

import pytest
from django.db import IntegrityError, transaction

from consent import identifiers, services, taxonomy
from consent.models import NoticeVersion, Purpose
from consent.services import purposes as rules
from governance.audit.models import LedgerEntry
from governance.errors import ApplicationError, Conflict, NotPermitted
from tests.consent.factories import PURPOSE_DEFAULTS, make_notice, make_purpose

pytestmark = pytest.mark.django_db


def _create(actor, slug="churn-model", **overrides):
    fields = {
        **PURPOSE_DEFAULTS,
        "legal_basis": "consent",
        "consent_validity_months": 24,
        "withdrawal_method": "Privacy settings.",
    } | overrides
    fields.setdefault("owner", actor)
    return services.purpose_create(slug=slug, actor=actor, **fields)


def test_a_steward_registers_a_draft_and_auditlog_records_it(alice):
    # when
    purpose = _create(alice)
    # then
    assert (purpose.slug, purpose.version, purpose.status) == ("churn-model", 1, "draft")
    assert purpose.created_by == alice
    entry = LedgerEntry.objects.get(content_type__model="purpose", object_pk=str(purpose.pk))
    assert entry.event == "model.created"
    assert entry.changes_dict["slug"] == [None, "churn-model"]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"consent_validity_months": None}, "consent_validity_months", rules.MSG_VALIDITY_REQUIRED),
        ({"withdrawal_method": ""}, "withdrawal_method", rules.MSG_WITHDRAWAL_REQUIRED),
        (
            {"legal_basis": "contract", "withdrawal_method": ""},
            "consent_validity_months",
            rules.MSG_VALIDITY_NOT_CONSENT,
        ),
        (
            {"special_categories": True, "dpia_reference": "D-1"},
            "special_category_condition",
            rules.MSG_CONDITION_REQUIRED,
        ),
        (
            {"special_categories": True, "special_category_condition": "explicit_consent"},
            "dpia_reference",
            rules.MSG_DPIA_REQUIRED,
        ),
        (
            {"special_category_condition": "research"},
            "special_category_condition",
            rules.MSG_CONDITION_NOT_SPECIAL,
        ),
        ({"data_categories": ["User.Email"]}, "data_categories", None),
        ({"data_categories": []}, "data_categories", rules.MSG_CATEGORIES_REQUIRED),
        ({"data_subject_categories": ["Customers!"]}, "data_subject_categories", None),
        ({"retention_days": 0}, "retention_days", rules.MSG_RETENTION),
        ({"legal_basis": "because"}, "legal_basis", rules.MSG_BASIS),
        ({"controller": " "}, "controller", rules.MSG_REQUIRED),
    ],
)
def test_an_incomplete_purpose_is_refused_naming_the_field(alice, overrides, field, message):
    with pytest.raises(ApplicationError) as raised:
        _create(alice, **overrides)
    assert raised.value.extra["field"] == field
    if message:
        assert raised.value.message == message
    assert Purpose.objects.count() == 0


def test_data_categories_must_be_keys_of_the_catalogs_taxonomy(alice):
    # a misspelled but well-formed key (issue 17: user.demographic.race was accepted)
    with pytest.raises(ApplicationError) as raised:
        _create(alice, data_categories=["user.demographic.race", "system"])
    assert raised.value.extra["field"] == "data_categories"
    assert raised.value.message == taxonomy.MSG_UNKNOWN_CATEGORY.format(
        keys="user.demographic.race"
    )
    with pytest.raises(ApplicationError) as malformed:
        _create(alice, slug="other", data_categories=["user..email"])
    assert malformed.value.message == identifiers.MSG_TAXONOMY_KEY.format(key="user..email")
    assert Purpose.objects.count() == 0
    # and a known key is accepted
    purpose = _create(alice, data_categories=["user.demographic.race_ethnicity", "system"])
    assert purpose.data_categories == ["user.demographic.race_ethnicity", "system"]


def test_submission_checks_special_categories_against_the_art9_declaration(alice):
    # given a draft naming a special category without declaring special categories
    purpose = _create(
        alice,
        legal_basis="legitimate_interests",
        consent_validity_months=None,
        withdrawal_method="",
        data_categories=["user.health_and_medical.diagnosis"],
    )
    # when it is submitted, then it is refused and stays a draft
    with pytest.raises(ApplicationError) as raised:
        services.purpose_submit(purpose=purpose, actor=alice)
    assert raised.value.extra["field"] == "special_categories"
    assert raised.value.message == taxonomy.MSG_SPECIAL_NOT_DECLARED.format(
        keys="user.health_and_medical.diagnosis", verb="is", them="it"
    )
    purpose.refresh_from_db()
    assert purpose.status == "draft"
    # and a declared special-category purpose must name one
    other = _create(
        alice,
        slug="other-purpose",
        legal_basis="legitimate_interests",
        consent_validity_months=None,
        withdrawal_method="",
        data_categories=["user.contact.email"],
        special_categories=True,
        special_category_condition="explicit_consent",
        dpia_reference="DPIA-1",
    )
    with pytest.raises(ApplicationError) as declared:
        services.purpose_submit(purpose=other, actor=alice)
    assert declared.value.message == taxonomy.MSG_SPECIAL_WITHOUT_CATEGORY


def test_slugs_are_checked_and_unique(alice):
    with pytest.raises(ApplicationError) as bad:
        _create(alice, slug="Churn Model")
    assert bad.value.message == rules.MSG_SLUG
    _create(alice)
    with pytest.raises(Conflict) as taken:
        _create(alice)
    assert taken.value.message == rules.MSG_SLUG_TAKEN


def test_engineers_and_auditors_cannot_register_purposes(bob, audrey):
    for person in (bob, audrey):
        with pytest.raises(NotPermitted):
            _create(person, owner=person)
    assert Purpose.objects.count() == 0


def test_a_draft_is_edited_and_auditlog_records_the_change(alice):
    purpose = _create(alice)
    services.purpose_update(purpose=purpose, actor=alice, name="Churn v2", retention_days=400)
    purpose.refresh_from_db()
    assert (purpose.name, purpose.retention_days) == ("Churn v2", 400)
    change = LedgerEntry.objects.get(content_type__model="purpose", event="model.updated")
    assert set(change.changes_dict) == {"name", "retention_days", "updated_at"}


def test_a_submitted_or_active_purpose_is_not_edited_in_place(alice):
    purpose = make_purpose("churn-model", status="active", owner=alice)
    with pytest.raises(Conflict) as raised:
        services.purpose_update(purpose=purpose, actor=alice, name="Sneaky")
    assert raised.value.message == rules.MSG_NOT_DRAFT.format(status="active")
    assert Purpose.objects.get().name == "Train the churn model"


def test_a_consent_purpose_needs_a_notice_before_submission(alice):
    purpose = _create(alice)
    with pytest.raises(ApplicationError) as raised:
        services.purpose_submit(purpose=purpose, actor=alice)
    assert raised.value.message == rules.MSG_NOTICE_NEEDED.format(verb="submitted")
    make_notice(purpose)
    assert services.purpose_submit(purpose=purpose, actor=alice).status == "submitted"


def test_only_a_privacy_officer_activates_not_even_an_administrator(alice, ada, audrey, petra):
    # given a submitted purpose
    purpose = make_purpose("churn-model", status="submitted", owner=alice)
    # when others try, it stays submitted and nothing is recorded
    for person in (alice, ada, audrey):
        with pytest.raises(NotPermitted) as raised:
            services.purpose_activate(purpose=purpose, actor=person)
        assert raised.value.message == rules.MSG_ACTIVATE_FORBIDDEN
    assert Purpose.objects.get().status == "submitted"
    assert not LedgerEntry.objects.filter(event="purpose.activated").exists()
    # when the privacy officer does
    services.purpose_activate(purpose=purpose, actor=petra)
    # then
    purpose.refresh_from_db()
    assert (purpose.status, purpose.activated_by) == ("active", petra)
    entry = LedgerEntry.objects.get(event="purpose.activated")
    assert entry.actor == petra
    assert entry.additional_data == {
        "slug": "churn-model",
        "version": 1,
        "legal_basis": "consent",
        "superseded_version": None,
        "note": "",
        "checklist": None,
    }


def test_only_submitted_purposes_are_activated(petra):
    purpose = make_purpose("churn-model", status="draft")
    with pytest.raises(Conflict) as raised:
        services.purpose_activate(purpose=purpose, actor=petra)
    assert raised.value.message == rules.MSG_NOT_SUBMITTED.format(verb="activated", status="draft")


def test_a_privacy_officer_returns_a_submission_with_a_reason(petra, alice):
    purpose = make_purpose("churn-model", status="submitted", owner=alice)
    with pytest.raises(ApplicationError):
        services.purpose_return(purpose=purpose, actor=petra, reason=" ")
    with pytest.raises(NotPermitted):
        services.purpose_return(purpose=purpose, actor=alice, reason="no")
    services.purpose_return(purpose=purpose, actor=petra, reason="Name the DPIA")
    purpose.refresh_from_db()
    assert (purpose.status, purpose.submitted_at) == ("draft", None)
    assert LedgerEntry.objects.get(event="purpose.returned").additional_data["reason"] == (
        "Name the DPIA"
    )


def test_a_purpose_in_use_changes_by_a_new_version_that_replaces_it_on_activation(alice, petra):
    # given an active v1
    v1 = make_purpose("churn-model", status="active", owner=alice)
    # when a steward makes v2, changes it and a privacy officer activates it
    v2 = services.purpose_new_version(purpose=v1, actor=alice)
    assert (v2.version, v2.status, v2.previous) == (2, "draft", v1)
    assert v2.data_categories == v1.data_categories
    services.purpose_update(purpose=v2, actor=alice, data_categories=["user.behavior"])
    make_notice(v2, text="Now with all behaviour")
    services.purpose_submit(purpose=v2, actor=alice)
    services.purpose_activate(purpose=v2, actor=petra)
    # then v1 is retired as superseded, v2 is the active one
    v1.refresh_from_db()
    v2.refresh_from_db()
    assert (v1.status, v1.retired_reason, v1.retired_by) == (
        "retired",
        "Superseded by version 2.",
        petra,
    )
    assert (v2.status, v2.data_categories) == ("active", ["user.behavior"])
    activation = LedgerEntry.objects.get(event="purpose.activated", object_pk=str(v2.pk))
    assert activation.additional_data["superseded_version"] == 1


def test_one_open_version_at_a_time(alice):
    v1 = make_purpose("churn-model", status="active", owner=alice)
    services.purpose_new_version(purpose=v1, actor=alice)
    with pytest.raises(Conflict) as raised:
        services.purpose_new_version(purpose=v1, actor=alice)
    assert raised.value.message == rules.MSG_OPEN_VERSION_EXISTS.format(version=2)
    assert Purpose.objects.count() == 2


def test_the_database_allows_one_active_version_per_slug(alice):
    v1 = make_purpose("churn-model", status="active", owner=alice)
    v2 = services.purpose_new_version(purpose=v1, actor=alice)
    with pytest.raises(IntegrityError), transaction.atomic():
        Purpose.objects.filter(pk=v2.pk).update(status="active", activated_at=v1.activated_at)


def test_retiring_needs_a_reason_and_happens_once(alice):
    purpose = make_purpose("churn-model", status="active", owner=alice)
    with pytest.raises(ApplicationError):
        services.purpose_retire(purpose=purpose, actor=alice, reason="")
    services.purpose_retire(purpose=purpose, actor=alice, reason="Model decommissioned")
    with pytest.raises(Conflict):
        services.purpose_retire(purpose=purpose, actor=alice, reason="again")
    assert LedgerEntry.objects.filter(event="purpose.retired").count() == 1


def test_publishing_a_text_notice_computes_its_hash_and_numbers_it(alice):
    purpose = make_purpose("churn-model", status="draft", notices=0, owner=alice)
    first = services.notice_version_publish(purpose=purpose, actor=alice, text=" We use... ")
    second = services.notice_version_publish(
        purpose=purpose,
        actor=alice,
        url="https://example.org/privacy/churn-v2",
        content_hash="A" * 64,
        language="de-CH",
    )
    assert (first.version, first.text) == (1, "We use...")
    assert first.content_hash == hashlib.sha256(b"We use...").hexdigest()
    assert (second.version, second.content_hash, second.language) == (2, "a" * 64, "de-CH")
    entry = LedgerEntry.objects.get(event="notice.published", object_pk=str(second.pk))
    assert entry.additional_data["notice_version"] == 2


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, rules.MSG_NOTICE_CONTENT),
        ({"url": "https://example.org/p"}, rules.MSG_NOTICE_HASH_REQUIRED),
        ({"url": "ftp://example.org/p", "content_hash": "a" * 64}, rules.MSG_NOTICE_URL),
        ({"text": "Hi", "content_hash": "b" * 64}, rules.MSG_NOTICE_HASH_MISMATCH),
        ({"text": "Hi", "content_hash": "xyz"}, rules.MSG_NOTICE_HASH_FORMAT),
        ({"text": "Hi", "language": "English"}, rules.MSG_LANGUAGE),
    ],
)
def test_bad_notices_are_refused(alice, fields, message):
    purpose = make_purpose("churn-model", status="draft", notices=0, owner=alice)
    with pytest.raises(ApplicationError) as raised:
        services.notice_version_publish(purpose=purpose, actor=alice, **fields)
    assert raised.value.message == message
    assert NoticeVersion.objects.count() == 0


def test_notices_are_refused_for_retired_purposes_and_for_auditors(alice, audrey):
    purpose = make_purpose("churn-model", status="active", owner=alice)
    with pytest.raises(NotPermitted):
        services.notice_version_publish(purpose=purpose, actor=audrey, text="x")
    services.purpose_retire(purpose=purpose, actor=alice, reason="done")
    with pytest.raises(Conflict):
        services.notice_version_publish(purpose=purpose, actor=alice, text="x")
    assert NoticeVersion.objects.count() == 1

"""The decision function, exhaustively: it never allows when a required fact is missing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from governance.access.decision import Facts, GrantFact, decide

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def good_facts(**overrides) -> Facts:
    grant = GrantFact(
        id=7,
        status="active",
        starts_at=NOW - timedelta(days=1),
        expires_at=NOW + timedelta(days=10),
        fields=("email", "message"),
        acknowledged=True,
    )
    facts = Facts(
        now=NOW,
        principal_active=True,
        dataset_found=True,
        dataset_status="approved",
        dataset_sensitivity="confidential",
        dataset_fields={"email": "pseudonymize", "message": "mask", "id": "keep"},
        dataset_categories=frozenset({"user.contact.email", "user.content.private"}),
        purpose_found=True,
        purpose_status="active",
        purpose_categories=frozenset({"user.contact", "user.content"}),
        approval_found=True,
        grants=(grant,),
        any_grant_on_dataset=True,
    )
    return replace(facts, **overrides)


def codes(decision) -> list[str]:
    return [r["code"] for r in decision.reasons]


def test_all_good_facts_allow_with_treatments_as_obligations():
    decision = decide(good_facts())
    assert decision.allow
    assert decision.grant_id == 7
    assert decision.fields == ("email", "message")
    assert decision.expires_at == NOW + timedelta(days=10)
    assert decision.obligations == {"fields": {"email": "pseudonymize", "message": "mask"}}


def test_unknown_dataset_and_no_grant_look_the_same():
    assert codes(decide(good_facts(dataset_found=False))) == ["no_grant"]
    assert codes(decide(good_facts(any_grant_on_dataset=False, grants=()))) == ["no_grant"]


def test_each_missing_fact_denies_with_its_reason():
    cases = {
        "dataset_not_approved": good_facts(dataset_status="retired"),
        "purpose_inactive": good_facts(purpose_status="retired"),
        "dataset_not_approved_for_purpose": good_facts(approval_found=False),
        "categories_not_permitted": good_facts(purpose_categories=frozenset({"user.contact"})),
        "special_category_without_condition": good_facts(dataset_has_special=True),
        "field_not_granted": good_facts(requested_fields=("email", "id")),
        "field_unknown": good_facts(requested_fields=("salary",)),
        "acknowledgement_missing": good_facts(
            grants=(replace(good_facts().grants[0], acknowledged=False),)
        ),
        "training_expired": good_facts(training_required=True, training_expires_at=NOW),
        "principal_inactive": good_facts(principal_active=False),
        "purpose_unknown": good_facts(purpose_found=False),
    }
    for code, facts in cases.items():
        decision = decide(facts)
        assert not decision.allow, code
        assert code in codes(decision), (code, codes(decision))


def test_grant_state_reasons():
    base = good_facts().grants[0]
    assert codes(decide(good_facts(grants=(replace(base, status="revoked"),)))) == ["grant_revoked"]
    assert codes(decide(good_facts(grants=(replace(base, expires_at=NOW),)))) == ["grant_expired"]
    assert codes(decide(good_facts(grants=(replace(base, status="expired"),)))) == ["grant_expired"]
    assert codes(
        decide(good_facts(grants=(replace(base, starts_at=NOW + timedelta(hours=1)),)))
    ) == ["grant_not_started"]
    assert codes(decide(good_facts(grants=()))) == ["no_grant"]


def test_training_bounds_the_answer():
    until = NOW + timedelta(days=3)
    decision = decide(good_facts(training_required=True, training_expires_at=until))
    assert decision.allow
    assert decision.expires_at == until


facts_strategy = st.builds(
    lambda **kw: good_facts(**kw),
    principal_active=st.booleans(),
    dataset_found=st.booleans(),
    dataset_status=st.sampled_from(["draft", "in_review", "approved", "retired", None]),
    purpose_found=st.booleans(),
    purpose_status=st.sampled_from(["draft", "submitted", "active", "retired", None]),
    approval_found=st.booleans(),
    any_grant_on_dataset=st.booleans(),
    dataset_has_special=st.booleans(),
    purpose_has_art9_condition=st.booleans(),
    training_required=st.booleans(),
    training_expires_at=st.sampled_from(
        [None, NOW - timedelta(days=1), NOW, NOW + timedelta(days=1)]
    ),
    requested_fields=st.sampled_from([None, ("email",), ("email", "id"), ("nope",), ()]),
    grants=st.lists(
        st.builds(
            GrantFact,
            id=st.integers(1, 5),
            status=st.sampled_from(["active", "revoked", "expired"]),
            starts_at=st.sampled_from([NOW - timedelta(days=2), NOW, NOW + timedelta(days=1)]),
            expires_at=st.sampled_from([NOW - timedelta(days=1), NOW, NOW + timedelta(days=5)]),
            fields=st.sampled_from([("email",), ("email", "message"), ()]),
            acknowledged=st.booleans(),
        ),
        max_size=3,
    ).map(tuple),
)


@given(facts_strategy)
def test_never_allow_when_a_required_fact_is_missing(facts):
    decision = decide(facts)
    required = (
        facts.principal_active
        and facts.dataset_found
        and facts.any_grant_on_dataset
        and facts.purpose_found
        and facts.dataset_status == "approved"
        and facts.purpose_status == "active"
        and facts.approval_found
        and (not facts.dataset_has_special or facts.purpose_has_art9_condition)
    )
    if not required:
        assert not decision.allow
    if decision.allow:
        grant = next(g for g in facts.grants if g.id == decision.grant_id)
        assert grant.status == "active" and grant.acknowledged
        assert grant.starts_at <= facts.now < grant.expires_at
        assert set(decision.fields) <= set(grant.fields)
        assert set(decision.fields) <= set(facts.dataset_fields)
        assert decision.expires_at <= grant.expires_at
        assert decision.expires_at > facts.now
        if facts.training_required:
            assert facts.training_expires_at is not None
            assert facts.training_expires_at > facts.now
        assert decision.reasons == ()
    else:
        assert decision.reasons
        assert decision.grant_id is None and decision.fields == ()

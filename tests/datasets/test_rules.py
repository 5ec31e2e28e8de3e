"""The pure rules: derived sensitivity and the lifecycle table, exhaustively."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datasets.rules import SENSITIVITY_ORDER, TRANSITIONS, sensitivity_of, transition_target
from datasets.taxonomy import Role, Special

ROLES = ["", *[value for value, _ in Role.CHOICES]]
SPECIALS = [value for value, _ in Special.CHOICES]


@dataclass
class F:
    role: str
    special_category: str = ""


def test_any_special_category_makes_a_dataset_restricted():
    fields = [F("non_personal"), F("sensitive", Special.HEALTH)]
    assert sensitivity_of(fields) == "restricted"


def test_direct_identifiers_make_it_confidential():
    assert sensitivity_of([F("non_personal"), F("direct_identifier")]) == "confidential"


def test_quasi_identifiers_or_unclassified_fields_make_it_internal():
    assert sensitivity_of([F("non_personal"), F("quasi_identifier")]) == "internal"
    assert sensitivity_of([F("non_personal"), F("")]) == "internal"


def test_only_non_personal_fields_is_public_and_no_fields_is_internal():
    assert sensitivity_of([F("non_personal"), F("non_personal")]) == "public"
    assert sensitivity_of([]) == "internal"


@given(st.lists(st.tuples(st.sampled_from(ROLES), st.sampled_from(SPECIALS)), min_size=1))
def test_sensitivity_is_the_maximum_over_fields(pairs):
    fields = [F(role, special) for role, special in pairs]
    level = SENSITIVITY_ORDER.index(sensitivity_of(fields))
    each = [SENSITIVITY_ORDER.index(sensitivity_of([field])) for field in fields]
    assert level == max(each)
    # adding a field never lowers sensitivity
    assert SENSITIVITY_ORDER.index(sensitivity_of([*fields, F("non_personal")])) == level


STATUSES = ["draft", "in_review", "approved", "retired"]
EXPECTED = {
    ("submit", "draft"): "in_review",
    ("approve", "in_review"): "approved",
    ("return", "in_review"): "draft",
    ("reopen", "approved"): "draft",
    ("reopen", "retired"): "draft",
    ("retire", "draft"): "retired",
    ("retire", "in_review"): "retired",
    ("retire", "approved"): "retired",
}


@pytest.mark.parametrize("action", sorted(TRANSITIONS))
@pytest.mark.parametrize("status", STATUSES)
def test_lifecycle_table(action, status):
    assert transition_target(action, status) == EXPECTED.get((action, status))


def test_a_retired_dataset_can_only_come_back_as_a_draft():
    assert [a for a in TRANSITIONS if transition_target(a, "retired")] == ["reopen"]

"""The filter's per-request work done in bulk (issue 14) says exactly what the per-item rules
say: the ids' problems (consent.identifiers.subject_id_problem), the input guard's refusals
(governance.inputs.check_document) and the answer's hash (history.answer_digest)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.identifiers import subject_id_problem, subject_id_problems
from consent.selectors import history
from governance import inputs

_IDS = [
    "c-1",
    "s-00000001",
    "12345678",  # a plain run of digits is a customer number
    "0049301234567",  # an international prefix: a phone number
    "+4930123456",
    "030-1234-567",
    "1.2.3",
    "ana@example.org",
    "",
    " c-2",
    "c-3\n",  # EXTERNAL_ID's $ accepts a trailing newline: the bulk path must agree
    "a\nb",
    "x" * 128,
    "x" * 129,
    "ü-1",
    "_c",
    "c:1.2-3_4",
]


def _one_by_one(values):
    return [
        (i, problem) for i, value in enumerate(values) if (problem := subject_id_problem(value))
    ]


def test_the_bulk_id_check_refuses_exactly_the_ids_the_single_check_refuses():
    # given ids of every kind, and the same with only acceptable ones
    acceptable = [value for value in _IDS if not subject_id_problem(value)]
    # when / then
    assert subject_id_problems(_IDS) == _one_by_one(_IDS)
    assert subject_id_problems(acceptable) == []
    assert subject_id_problems(list(reversed(_IDS))) == _one_by_one(list(reversed(_IDS)))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.sampled_from(_IDS)
        | st.text(alphabet="0123456789 +-.()/@:_abcXYZ\n", max_size=20)
        | st.text(max_size=5),
        max_size=30,
    )
)
def test_any_list_of_ids_gets_the_single_checks_answers(values):
    assert subject_id_problems(values) == _one_by_one(values)


def test_the_namespace_digest_is_the_answer_digest():
    ids = sorted(["c-1", "c-2", "s-00000003", "c-3\n"])
    assert history.namespace_digest("shop", ids) == history.answer_digest(("shop", x) for x in ids)
    assert history.namespace_digest("shop", []) == history.answer_digest([])


# --- the input guard ---------------------------------------------------------------------------


def _walk_one_by_one(document: Any, *, where: str = "$") -> None:
    """check_document as it was before the bulk checks: every string and key on its own."""
    max_depth, max_chars, max_items = 32, 50, 40
    stack = [(document, where, 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            if problem := inputs.text_problem(value, path, limit=max_chars):
                raise problem
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > max_depth:
            raise inputs.InputRefused(inputs.MSG_TOO_DEEP.format(limit=max_depth), {"where": path})
        if len(value) > max_items:
            raise inputs.InputRefused(
                inputs.MSG_TOO_MANY.format(where=path, limit=max_items), {"where": path}
            )
        if isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key[:100]}"
                if problem := inputs.text_problem(key, f"the key {child}", limit=max_chars):
                    raise problem
                stack.append((item, child, depth + 1))
        else:
            stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))


def _refusal(check, document):
    try:
        check(document)
    except inputs.InputRefused as refused:
        return refused.message, refused.extra
    return None


_text = st.text(alphabet="ab\x00", max_size=60)
_documents = st.recursive(
    st.none() | st.integers() | _text,
    lambda children: st.lists(children, max_size=45) | st.dictionaries(_text, children),
    max_leaves=80,
)


@pytest.fixture
def _small_limits(settings):
    settings.INPUT_MAX_JSON_DEPTH = 32
    settings.INPUT_MAX_STRING_CHARS = 50
    settings.INPUT_MAX_ITEMS = 40


@settings(
    max_examples=400,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(_documents)
def test_the_input_guard_refuses_what_the_one_by_one_walk_refuses_naming_the_same_place(
    _small_limits, document
):
    assert _refusal(inputs.check_document, document) == _refusal(_walk_one_by_one, document)


def test_a_nul_in_a_long_list_of_ids_is_refused_naming_its_position(_small_limits):
    ids = [f"c-{i}" for i in range(30)]
    ids[17] = "c-\x0017"
    with pytest.raises(inputs.InputRefused) as refused:
        inputs.check_document({"subject_ids": ids})
    assert refused.value.extra == {"where": "$.subject_ids[17]"}


# --- the filter API's list of ids ----------------------------------------------------------------


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.text(alphabet="ab \t\x00\x1cü\n", max_size=6)
        | st.sampled_from(["c-1", "x" * 256, "x" * 257, ""])
        | st.integers(),
        min_size=1,
        max_size=12,
    )
)
def test_the_bulk_plain_id_check_takes_exactly_the_lists_the_per_id_check_takes(values):
    from consent.apis.queries import _plain_id, _plain_ids

    assert _plain_ids(values) == all(map(_plain_id, values))

"""Hostile input (issue "Hardening the edges", item 3): NUL bytes anywhere, JSON nested
thousands of levels deep, oversized strings and lists. Each got a 500 before; each must be a
400 in the error shape that names where the problem is, and change nothing."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance import inputs
from governance.audit.models import LedgerEntry
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db

NUL_URLS = [
    "/api/v1/datasets/?q=%00",
    "/api/v1/datasets/?status=%00",
    "/api/v1/datasets/?owner=%00",
    "/api/v1/datasets/?tag=%00",
    "/api/v1/datasets/?category=%00",
    "/api/v1/datasets/anything/suggestions?status=%00",
    "/api/v1/access/grants?dataset=%00",
    "/api/v1/access/purpose-approvals?dataset=%00",
    "/api/v1/retention/erasure-requests?status=%00",
    "/api/v1/audit/entries?event=%00",
    "/api/v1/datasets/%00/",
]


@pytest.fixture
def steward_client(client):
    client.force_login(UserFactory(username="sam", roles=["steward", "privacy_officer"]))
    return client


def _is_refusal(response, where_part: str | None = None) -> None:
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == "bad_request"
    if where_part:
        assert where_part in error["details"]["where"]


@pytest.mark.parametrize("url", NUL_URLS)
def test_a_nul_byte_in_a_url_is_a_400_naming_it(steward_client, url):
    _is_refusal(steward_client.get(url))


def test_a_nul_byte_in_a_header_is_a_400(steward_client):
    response = steward_client.get("/api/v1/datasets/", HTTP_X_CLIENT_NOTE="a\x00b")
    _is_refusal(response, "X-Client-Note")


def test_a_nul_byte_in_a_portal_query_or_form_is_a_400_and_changes_nothing(steward_client):
    assert steward_client.get("/datasets/?q=%00").status_code == 400
    before = LedgerEntry.objects.count()
    response = steward_client.post("/consent/purposes/new/", {"slug": "x\x00", "name": "n"})
    assert response.status_code == 400
    assert LedgerEntry.objects.count() == before


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("url", "content_type", "body"),
    [
        ("/api/v1/access/check", "application/json", _deep(5000)),
        ("/api/v1/consent/filter", "application/json", _deep(5000)),
        ("/api/v1/consent/events/batch", "application/json", _deep(5000)),
        ("/api/v1/consent/events/batch", "application/x-ndjson", _deep(5000) + "\n"),
        (
            "/api/v1/access/check",
            "application/json",
            '{"dataset": "a", "purpose": "b", "fields": ' + _deep(40) + "}",
        ),
        ("/api/v1/consent/filter", "application/json", '{"purpose": "p\\u0000"}'),
        ("/api/v1/consent/filter", "application/json", '{"purpose": "p", "x": NaN}'),
        ("/api/v1/access/check", "application/json", '{"dataset": "d", "n": -Infinity}'),
        ("/api/v1/consent/events/batch", "application/x-ndjson", '{"namespace": "\\u0000"}\n'),
    ],
)
def test_hostile_json_is_a_400_in_the_error_shape(steward_client, url, content_type, body):
    before = LedgerEntry.objects.count()
    response = steward_client.post(url, body, content_type=content_type)
    _is_refusal(response)
    assert LedgerEntry.objects.count() == before


def test_a_query_parameter_longer_than_the_limit_is_a_400(steward_client, settings):
    settings.INPUT_MAX_PARAMETER_CHARS = 50
    _is_refusal(steward_client.get("/api/v1/datasets/?q=" + "a" * 51), "query parameter 'q'")
    assert steward_client.get("/api/v1/datasets/?q=" + "a" * 50).status_code == 200


def test_strings_and_lists_over_the_limits_are_400s_naming_the_place(steward_client, settings):
    settings.INPUT_MAX_STRING_CHARS = 10
    settings.INPUT_MAX_ITEMS = 3
    long_string = {"dataset": "a" * 11, "purpose": "p"}
    response = steward_client.post(
        "/api/v1/access/check", json.dumps(long_string), content_type="application/json"
    )
    _is_refusal(response, "$.dataset")
    many = {"dataset": "a", "purpose": "p", "fields": ["a", "b", "c", "d"]}
    response = steward_client.post(
        "/api/v1/access/check", json.dumps(many), content_type="application/json"
    )
    _is_refusal(response, "$.fields")


# --- property tests over the parser ----------------------------------------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=30,
)


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    return False


def _depth(value) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    return 0


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_json)
def test_any_json_document_is_returned_unchanged_unless_it_breaks_a_rule(document):
    raw = json.dumps(document)
    breaks_a_rule = _has_nul(document) or _depth(document) > 32
    try:
        parsed = inputs.load_json(raw)
    except inputs.InputRefused as refused:
        assert breaks_a_rule, refused.message
        assert refused.status_code == 400
    else:
        assert not breaks_a_rule
        assert parsed == document


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_any_bytes_are_parsed_or_refused_never_an_other_error(raw):
    try:
        inputs.load_json(raw)
    except (inputs.InputRefused, inputs.MalformedBody) as refused:
        assert refused.status_code == 400


@settings(max_examples=50)
@given(st.integers(min_value=33, max_value=20_000))
def test_nesting_beyond_the_limit_is_refused_however_deep(depth):
    with pytest.raises(inputs.InputRefused) as refused:
        inputs.load_json(_deep(depth))
    assert refused.value.message == inputs.MSG_TOO_DEEP.format(limit=32)

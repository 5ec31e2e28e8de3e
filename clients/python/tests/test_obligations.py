"""Field obligations applied exactly as the decision says, to pandas, pyarrow and rows."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pyarrow as pa
import pytest
from governance_client import Decision, ObligationError, PurposeKeys, apply_obligations, pseudonym

SECRET = bytes(range(32))
KEYS = PurposeKeys(purpose="churn", versions={1: SECRET}, current=1)
DECISION = Decision.from_json(
    {
        "decision": "allow",
        "decision_id": "dec-1",
        "reasons": [],
        "dataset": "events",
        "purpose": "churn",
        "fields": ["customer_id", "email", "age", "postcode", "note", "phone", "joined"],
        "expires_at": None,
        "lease": "x.y.z",
        "obligations": {
            "fields": {
                "customer_id": "keep",
                "email": "pseudonymize",
                "age": "generalize",
                "postcode": "generalize",
                "note": "mask",
                "phone": "drop",
                "joined": "generalize",
            }
        },
    }
)
ROWS = [
    {
        "customer_id": "c-1",
        "email": "ann@example.org",
        "age": 37,
        "postcode": "10115",
        "note": "called twice",
        "phone": "+49 30 1234567",
        "joined": date(2024, 5, 17),
        "secret_column": "not leased",
    },
    {
        "customer_id": "c-2",
        "email": None,
        "age": 62,
        "postcode": "8001",
        "note": None,
        "phone": "+41 44 1234567",
        "joined": date(2023, 1, 2),
        "secret_column": "not leased",
    },
]
EXPECTED = [
    {
        "customer_id": "c-1",
        "email": pseudonym(SECRET, 1, "ann@example.org"),
        "age": 30,
        "postcode": "101**",
        "note": "***",
        "joined": date(2024, 5, 1),
    },
    {
        "customer_id": "c-2",
        "email": None,
        "age": 60,
        "postcode": "80**",
        "note": None,
        "joined": date(2023, 1, 1),
    },
]


def test_plain_rows():
    assert apply_obligations(ROWS, DECISION, keys=KEYS) == EXPECTED


def test_pandas():
    frame = apply_obligations(pd.DataFrame(ROWS), DECISION, keys=KEYS)
    assert list(frame.columns) == list(EXPECTED[0])
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    assert records == EXPECTED


def test_pyarrow():
    table = apply_obligations(pa.Table.from_pylist(ROWS), DECISION, keys=KEYS)
    assert table.column_names == list(EXPECTED[0])
    assert table.to_pylist() == EXPECTED


def test_the_token_is_the_registrys_and_stable_within_the_purpose():
    # the registry's own function, same vector (tests/access/test_pseudonym_keys.py checks it)
    token = pseudonym(SECRET, 1, "ann@example.org")
    assert token == KEYS.pseudonymize("ann@example.org")
    assert token.startswith("v1.") and len(token) == 25
    assert KEYS.verify("ann@example.org", token)
    other = PurposeKeys(purpose="ads", versions={1: bytes(32)}, current=1)
    assert other.pseudonymize("ann@example.org") != token
    assert not other.verify("ann@example.org", token)
    assert "secret" not in repr(KEYS).lower() or "versions" in repr(KEYS)


def test_custom_generalizers_and_widths():
    rows = apply_obligations(
        ROWS, DECISION, keys=KEYS, widths={"age": 25}, generalizers={"postcode": lambda v: v[:1]}
    )
    assert [(r["age"], r["postcode"]) for r in rows] == [(25, "1"), (50, "8")]


def test_pseudonymizing_without_the_purpose_key_stops_the_read():
    with pytest.raises(ObligationError, match="pseudonym"):
        apply_obligations(ROWS, DECISION)
    wrong = PurposeKeys(purpose="ads", versions={1: SECRET}, current=1)
    with pytest.raises(ObligationError, match="purpose"):
        apply_obligations(ROWS, DECISION, keys=wrong)


def test_an_unknown_treatment_or_obligation_stops_the_read():
    unknown = Decision.from_json({**DECISION.raw, "obligations": {"fields": {"age": "shuffle"}}})
    with pytest.raises(ObligationError, match="shuffle"):
        apply_obligations(ROWS, unknown, keys=KEYS)
    extra = Decision.from_json(
        {**DECISION.raw, "obligations": {**DECISION.obligations, "k_anonymity": {"k": 5}}}
    )
    with pytest.raises(ObligationError, match="k_anonymity"):
        apply_obligations(ROWS, extra, keys=KEYS)


def test_a_denied_decision_yields_nothing():
    denied = Decision.from_json({**DECISION.raw, "decision": "deny"})
    with pytest.raises(ObligationError):
        apply_obligations(ROWS, denied, keys=KEYS)

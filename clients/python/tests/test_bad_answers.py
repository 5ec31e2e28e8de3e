"""Answers the client cannot read, and obligations it cannot apply, are the client's own clear
exceptions (GovernanceError), never a JSONDecodeError or KeyError — and never an allow."""

from __future__ import annotations

import json

import httpx
import pandas as pd
import pytest
from governance_client import GovernanceError, ObligationError, UnexpectedAnswer

ALLOW = {
    "decision": "allow",
    "decision_id": "dec-1",
    "reasons": [],
    "principal": "service_account:job",
    "dataset": "events",
    "purpose": "churn",
    "grant": 7,
    "fields": ["customer_id", "email"],
    "expires_at": "2026-12-31T00:00:00Z",
    "obligations": {"fields": {"customer_id": "keep", "email": "pseudonymize"}},
    "lease": "x.y.z",
}


@pytest.mark.parametrize(
    ("response", "says"),
    [
        (httpx.Response(200, text="<html>Sign in</html>"), "not JSON"),
        (httpx.Response(302, headers={"Location": "/accounts/login/"}), "redirect"),
        (httpx.Response(200, json=[1, 2]), "not a JSON object"),
        (
            httpx.Response(200, json={k: v for k, v in ALLOW.items() if k != "decision_id"}),
            "decision_id",
        ),
        (httpx.Response(200, json={**ALLOW, "decision": "maybe"}), "decision"),
        (httpx.Response(200, json={**ALLOW, "lease": None}), "lease"),
        (httpx.Response(200, json={**ALLOW, "obligations": "none"}), "obligations"),
    ],
    ids=[
        "html",
        "redirect",
        "list",
        "no-decision-id",
        "odd-decision",
        "allow-no-lease",
        "odd-obligations",
    ],
)
def test_an_answer_the_client_cannot_read_is_an_unexpected_answer(client, registry, response, says):
    registry.route("POST", "/api/v1/access/check", lambda r: response)
    with pytest.raises(UnexpectedAnswer, match=says) as raised:
        client.check("events", "churn")
    assert isinstance(raised.value, GovernanceError)


def _world(registry, obligations):
    decision = {**ALLOW, "obligations": obligations}

    def check(request):
        lease = registry.lease(
            jti=decision["decision_id"],
            lease={
                "principal": {"id": decision["principal"]},
                "dataset": decision["dataset"],
                "purpose": decision["purpose"],
                "fields": decision["fields"],
                "obligations": decision["obligations"],
            },
        )
        return httpx.Response(200, json=json.loads(json.dumps({**decision, "lease": lease})))

    registry.route("POST", "/api/v1/access/check", check)


CONSENT = {
    "purpose": "churn",
    "namespace": "shop",
    "subject_id_field": "customer_id",
    "snapshot": {"id": "snap-1"},
    "filter_endpoint": "/api/v1/consent/filter",
    "export_endpoint": "/api/v1/consent/export?snapshot=snap-1",
}
FRAME = pd.DataFrame({"customer_id": ["c-1"], "email": ["a@x.org"]})


@pytest.mark.parametrize("missing", ["namespace", "snapshot", "subject_id_field"])
def test_a_consent_filter_without_what_it_needs_stops_the_read(client, registry, tmp_path, missing):
    consent = {k: v for k, v in CONSENT.items() if k != missing}
    _world(
        registry, {"fields": {"customer_id": "keep", "email": "drop"}, "consent_filter": consent}
    )
    with pytest.raises(ObligationError, match=missing):
        client.governed_read("events", "churn", FRAME, output_dir=tmp_path)
    assert not (tmp_path / "governance-manifest.json").exists()


def test_a_table_without_the_subject_id_column_stops_the_read(client, registry, tmp_path):
    _world(
        registry, {"fields": {"customer_id": "keep", "email": "drop"}, "consent_filter": CONSENT}
    )
    table = FRAME.rename(columns={"customer_id": "client"})
    with pytest.raises(ObligationError, match="customer_id"):
        client.governed_read("events", "churn", table, output_dir=tmp_path)
    rows = [{"client": "c-1", "email": "a@x.org"}]
    with pytest.raises(ObligationError, match="customer_id"):
        client.governed_read("events", "churn", rows, output_dir=tmp_path)

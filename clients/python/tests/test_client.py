"""The client's transport: tokens, timeouts, retries with backoff on 503/429 only, and a
clear exception — never an allow — when the registry cannot answer."""

from __future__ import annotations

import httpx
import pytest
from governance_client import (
    AccessDenied,
    AuthenticationFailed,
    BudgetExceeded,
    Client,
    RegistryUnavailable,
)
from governance_client.errors import ApiError

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


def test_check_gets_a_token_and_returns_a_typed_decision(client, registry):
    seen = {}

    def check(request):
        seen["authorization"] = request.headers["Authorization"]
        seen["body"] = request.read()
        return httpx.Response(200, json=ALLOW)

    registry.route("POST", "/api/v1/access/check", check)
    decision = client.check("events", "churn", fields=["customer_id", "email"])
    assert decision.allowed
    assert decision.treatments == {"customer_id": "keep", "email": "pseudonymize"}
    assert decision.expires_at.isoformat() == "2026-12-31T00:00:00+00:00"
    assert seen["authorization"] == "Bearer token-1"
    assert b'"fields":["customer_id","email"]' in seen["body"].replace(b" ", b"")
    # the token is reused
    client.check("events", "churn")
    assert registry.tokens_issued == 1


def test_a_deny_raises_with_the_reasons(client, registry):
    deny = {
        **ALLOW,
        "decision": "deny",
        "reasons": [{"code": "grant_revoked", "message": "Revoked."}],
        "lease": None,
    }
    registry.route("POST", "/api/v1/access/check", lambda r: httpx.Response(200, json=deny))
    with pytest.raises(AccessDenied) as denied:
        client.check("events", "churn")
    assert denied.value.reasons == [{"code": "grant_revoked", "message": "Revoked."}]
    assert "grant_revoked" in str(denied.value)
    assert client.check("events", "churn", raise_on_deny=False).allowed is False


def test_503_and_429_are_retried_with_backoff_honouring_retry_after(client, registry, sleeps):
    answers = iter(
        [
            httpx.Response(
                503, headers={"Retry-After": "5"}, json={"error": {"code": "unavailable"}}
            ),
            httpx.Response(
                429, headers={"Retry-After": "2"}, json={"error": {"code": "throttled"}}
            ),
            httpx.Response(503, json={"error": {"code": "unavailable"}}),
            httpx.Response(200, json=ALLOW),
        ]
    )
    registry.route("POST", "/api/v1/access/check", lambda r: next(answers))
    assert client.check("events", "churn").allowed
    assert len(sleeps) == 3
    assert sleeps[0] == 5.0 and sleeps[1] == 2.0  # Retry-After is longer than the backoff
    assert 0.5 <= sleeps[2] <= 2.0  # backoff 0.5 * 2**2 with jitter in [0.5, 1)


def test_a_registry_that_keeps_failing_raises_after_bounded_tries(client, registry, sleeps):
    registry.route(
        "POST",
        "/api/v1/access/check",
        lambda r: httpx.Response(503, json={"error": {"code": "unavailable"}}),
    )
    with pytest.raises(RegistryUnavailable) as raised:
        client.check("events", "churn")
    assert raised.value.attempts == 4
    assert raised.value.last_status == 503
    assert "nothing was allowed" in str(raised.value)
    assert len(sleeps) == 3


@pytest.mark.parametrize("status", [400, 403, 404, 409, 422])
def test_other_4xx_are_never_retried(client, registry, sleeps, status):
    registry.route(
        "POST",
        "/api/v1/access/check",
        lambda r: httpx.Response(
            status, json={"error": {"code": "invalid", "message": "bad", "details": {"x": 1}}}
        ),
    )
    with pytest.raises(ApiError) as raised:
        client.check("events", "churn")
    assert (raised.value.status, raised.value.code, raised.value.details) == (
        status,
        "invalid",
        {"x": 1},
    )
    assert sleeps == []
    assert registry.calls.count(("POST", "/api/v1/access/check")) == 1


def test_an_unreachable_registry_raises_after_bounded_retries(sleeps):
    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    client = Client(
        "http://127.0.0.1:9",
        "id",
        "secret",
        transport=httpx.MockTransport(refuse),
        sleep=sleeps.append,
        retries=2,
    )
    with pytest.raises(RegistryUnavailable) as raised:
        client.check("events", "churn")
    assert raised.value.attempts == 3
    assert "ConnectError" in str(raised.value)
    assert len(sleeps) == 2


def test_a_real_closed_port_is_unavailable_not_an_allow():
    client = Client("http://127.0.0.1:9", "id", "secret", timeout=1, retries=1, backoff=0.01)
    with pytest.raises(RegistryUnavailable):
        client.check("events", "churn")


def test_a_write_whose_answer_was_lost_is_not_repeated(client, registry, sleeps):
    def lost(request):
        raise httpx.ReadTimeout("no answer", request=request)

    registry.route("POST", "/api/v1/budget/claims", lost)
    from governance_client.decision import Decision

    with pytest.raises(RegistryUnavailable) as raised:
        client.claim_budget(Decision.from_json(ALLOW), epsilon=0.1)
    assert raised.value.attempts == 1
    assert registry.calls.count(("POST", "/api/v1/budget/claims")) == 1


def test_an_expired_or_revoked_token_is_replaced_once(client, registry):
    answers = iter(
        [
            httpx.Response(401, json={"error": {"code": "authentication_failed", "message": "x"}}),
            httpx.Response(200, json=ALLOW),
        ]
    )
    registry.route("POST", "/api/v1/access/check", lambda r: next(answers))
    assert client.check("events", "churn").allowed
    assert registry.tokens_issued == 2


def test_refused_credentials_are_an_authentication_error(client, registry):
    registry.route(
        "POST", "/o/token/", lambda r: httpx.Response(401, json={"error": "invalid_client"})
    )
    with pytest.raises(AuthenticationFailed) as raised:
        client.check("events", "churn")
    assert raised.value.code == "invalid_client"


def test_a_budget_refusal_carries_the_remainder(client, registry):
    registry.route(
        "POST",
        "/api/v1/budget/claims",
        lambda r: httpx.Response(
            409,
            json={
                "error": {
                    "code": "budget_exceeded",
                    "message": "No room.",
                    "details": {"remaining": {"0": {"epsilon": 0.2, "delta": 0.0}}},
                }
            },
        ),
    )
    from governance_client.decision import Decision

    with pytest.raises(BudgetExceeded) as raised:
        client.claim_budget(Decision.from_json(ALLOW), epsilon=0.5)
    assert raised.value.remaining == {"0": {"epsilon": 0.2, "delta": 0.0}}


def test_filter_subjects_asks_in_batches_at_the_decisions_snapshot(client, registry):
    decision_json = {
        **ALLOW,
        "obligations": {
            "fields": {"customer_id": "keep"},
            "consent_filter": {
                "purpose": "churn",
                "namespace": "shop",
                "subject_id_field": "customer_id",
                "snapshot": {
                    "id": "snap-1",
                    "purpose_version": 1,
                    "as_of": "2026-12-01T00:00:00Z",
                    "known_at": "2026-12-01T00:00:00Z",
                    "count": None,
                    "sha256": None,
                },
                "filter_endpoint": "/api/v1/consent/filter",
                "export_endpoint": "/api/v1/consent/export?snapshot=snap-1",
            },
        },
    }
    bodies = []

    def answer(request):
        import json

        body = json.loads(request.read())
        bodies.append(body)
        kept = [i for i in body["subject_ids"] if not i.endswith("3")]
        return httpx.Response(
            200, json={"subject_ids": kept, "snapshot": {"id": f"f-{len(bodies)}"}}
        )

    registry.route("POST", "/api/v1/consent/filter", answer)
    from governance_client.decision import Decision

    result = client.filter_subjects(
        Decision.from_json(decision_json), [f"c-{i}" for i in range(5)] + ["c-1"], batch_size=2
    )
    assert [b["subject_ids"] for b in bodies] == [["c-0", "c-1"], ["c-2", "c-3"], ["c-4"]]
    assert {b["snapshot"] for b in bodies} == {"snap-1"}
    assert "namespace" not in bodies[0]  # the snapshot fixes it
    assert result.kept == ["c-0", "c-1", "c-2", "c-4"]
    assert (result.asked, result.namespace, result.batch_snapshots) == (
        5,
        "shop",
        ["f-1", "f-2", "f-3"],
    )


def _consent_decision():
    from governance_client.decision import Decision

    return Decision.from_json(
        {
            **ALLOW,
            "obligations": {
                "fields": {"customer_id": "keep"},
                "consent_filter": {
                    "purpose": "churn",
                    "namespace": "shop",
                    "subject_id_field": "customer_id",
                    "snapshot": {"id": "snap-1", "as_of": None, "known_at": None},
                    "filter_endpoint": "/api/v1/consent/filter",
                    "export_endpoint": "/api/v1/consent/export?snapshot=snap-1",
                },
            },
        }
    )


@pytest.mark.parametrize("sealed_count", [2, 3])
def test_an_export_is_trusted_only_when_it_matches_its_sealed_snapshot(
    client, registry, sealed_count
):
    from governance_client import subjects_digest

    lines = '{"namespace":"shop","subject_id":"c-1"}\n{"namespace":"shop","subject_id":"c-2"}\n'
    registry.route(
        "GET",
        "/api/v1/consent/export",
        lambda r: httpx.Response(200, text=lines, headers={"X-Consent-Snapshot": "exp-1"}),
    )
    sealed = ["c-1", "c-2", "c-3"][:sealed_count]
    registry.route(
        "GET",
        "/api/v1/consent/snapshots/exp-1",
        lambda r: httpx.Response(
            200,
            json={
                "completed_at": "2026-12-01T00:00:00Z",
                "count": sealed_count,
                "sha256": subjects_digest("shop", sealed),
            },
        ),
    )
    if sealed_count == 2:
        assert list(client.iter_consented(_consent_decision())) == ["c-1", "c-2"]
    else:  # the stream stopped early: a third subject was sealed but never arrived
        with pytest.raises(RegistryUnavailable, match="incomplete"):
            list(client.iter_consented(_consent_decision()))

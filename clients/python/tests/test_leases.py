"""Lease verification against the published keys: cached, refetched on a rotated-in kid."""

from __future__ import annotations

import json
import time

import pytest
from governance_client import ANY_AUDIENCE, LeaseInvalid, verify_lease
from jwcrypto import jwk, jws

AUD = "governance-data-gateway"


def test_a_genuine_lease_verifies_for_its_audience(client, registry):
    claims = client.verify_lease(registry.lease(), audience=AUD)
    assert claims["jti"] == "dec-1"
    with pytest.raises(LeaseInvalid) as wrong:
        client.verify_lease(registry.lease(), audience="another-gateway")
    assert wrong.value.reason == "wrong_audience"
    assert client.verify_lease(registry.lease(), audience=ANY_AUDIENCE)["aud"] == AUD


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": 1}, "expired"),
        ({"nbf": int(time.time()) + 600}, "not_yet_valid"),
        ({"iss": "elsewhere"}, "wrong_issuer"),
    ],
)
def test_claims_are_checked(registry, overrides, reason):
    with pytest.raises(LeaseInvalid) as raised:
        verify_lease(registry.lease(**overrides), registry.jwks(), audience=AUD)
    assert raised.value.reason == reason


def test_tampering_and_algorithm_tricks_are_refused(registry):
    token = registry.lease()
    header, payload, signature = token.split(".")
    other = registry.lease(jti="dec-2").split(".")[1]
    with pytest.raises(LeaseInvalid) as tampered:
        verify_lease(f"{header}.{other}.{signature}", registry.jwks(), audience=AUD)
    assert tampered.value.reason == "bad_signature"
    none_header = "eyJhbGciOiJub25lIiwia2lkIjoiazEifQ"  # {"alg":"none","kid":"k1"}
    with pytest.raises(LeaseInvalid) as unsigned:
        verify_lease(f"{none_header}.{payload}.", registry.jwks(), audience=AUD)
    assert unsigned.value.reason == "bad_algorithm"


def test_the_deprecated_eddsa_name_verifies_during_the_transition(registry):
    claims = json.loads(jws.base64url_decode(registry.lease().split(".")[1]))
    old = jws.JWS(json.dumps(claims).encode())
    old.add_signature(
        registry.key, alg="EdDSA", protected=json.dumps({"alg": "EdDSA", "kid": "k1"})
    )
    token = old.serialize(compact=True)
    assert verify_lease(token, registry.jwks(), audience=AUD)["jti"] == "dec-1"
    with pytest.raises(LeaseInvalid):
        verify_lease(token, registry.jwks(), audience=AUD, algorithms=("Ed25519",))


def test_keys_are_cached_and_refetched_when_a_new_kid_appears(client, registry, monkeypatch):
    client.verify_lease(registry.lease(), audience=AUD)
    client.verify_lease(registry.lease(), audience=AUD)
    assert registry.calls.count(("GET", "/api/v1/access/keys")) == 1
    # the registry rotates: a new key signs
    registry.key = jwk.JWK.generate(kty="OKP", crv="Ed25519", kid="k2")
    new = jws.JWS(
        json.dumps({**json.loads(jws.base64url_decode(registry.lease().split(".")[1]))}).encode()
    )
    new.add_signature(
        registry.key, alg="Ed25519", protected=json.dumps({"alg": "Ed25519", "kid": "k2"})
    )
    token = new.serialize(compact=True)
    # within a minute of the last fetch: not refetched (a forged kid cannot make us hammer)
    with pytest.raises(LeaseInvalid):
        client.verify_lease(token, audience=AUD)
    client._keys_fetched -= 61
    assert client.verify_lease(token, audience=AUD)["jti"] == "dec-1"
    assert registry.calls.count(("GET", "/api/v1/access/keys")) == 2

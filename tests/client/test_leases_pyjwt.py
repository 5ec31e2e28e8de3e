"""docs/leases.md's PyJWT recipe, run as written against leases the registry issues: PyJWT
knows Ed25519 only as "EdDSA", so a recipe that does not teach it the fully specified name
rejects every default lease."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from jwcrypto import jwk, jws
from jwcrypto.common import base64url_decode, base64url_encode

from governance.access import leases

pytest.importorskip("jwt")

DOCS = Path(__file__).resolve().parents[2] / "docs" / "leases.md"
AUD = "governance-data-gateway"

_DRIVER = """
import json, sys
given = json.load(sys.stdin)
results = []
for case in given["cases"]:
    try:
        results.append({"claims": verify_lease(case["token"], given["jwks"], case["audience"])})
    except jwt.PyJWTError as error:
        results.append({"rejected": type(error).__name__})
print(json.dumps(results))
"""


def _recipe() -> str:
    found = re.search(r"<!-- pyjwt-verifier[^>]*-->\n```python\n(.*?)```", DOCS.read_text(), re.S)
    assert found, "docs/leases.md lost its pyjwt-verifier block"
    return found.group(1)


def _segment(document: dict) -> str:
    return base64url_encode(json.dumps(document).encode())


def _signed(claims: dict, alg: str) -> str:
    key = leases.signing_keys()[0]
    token = jws.JWS(json.dumps(claims).encode())
    token.add_signature(key, alg=alg, protected=json.dumps({"alg": alg, "kid": key["kid"]}))
    return token.serialize(compact=True)


def test_the_documented_pyjwt_recipe_verifies_default_leases_and_refuses_forgeries(
    settings, tmp_path
):
    # given a lease as the registry signs it by default, and forgeries of it
    settings.ACCESS_LEASE_KEY_FILE = tmp_path / "keys" / "lease.jwks.json"
    settings.ACCESS_LEASE_ISSUER = "governance-registry"
    token = leases.lease_issue(
        decision_id="dec-1",
        principal={"id": "service_account:job"},
        dataset="support-tickets",
        purpose="ticket-routing",
        fields=["ticket_id"],
        obligations={"fields": {"ticket_id": "keep"}},
        expires_at=timezone.now() + timedelta(hours=1),
        audience=AUD,
    )
    keyset = leases.jwks()
    assert json.loads(base64url_decode(token.split(".")[0]))["alg"] == "Ed25519"
    expected = leases.lease_verify(token, keyset, audience=AUD)
    header, payload, signature = token.split(".")
    claims = json.loads(base64url_decode(payload))
    tampered_claims = {**claims, "lease": {**claims["lease"], "fields": ["ticket_id", "ssn"]}}
    tampered = f"{header}.{_segment(tampered_claims)}.{signature}"
    published = keyset["keys"][0]
    confused = jws.JWS(base64url_decode(payload))
    confused.add_signature(
        jwk.JWK(kty="oct", k=base64url_encode(base64url_decode(published["x"]))),
        alg="HS256",
        protected=json.dumps({"alg": "HS256", "kid": published["kid"]}),
    )
    unsigned = f"{_segment({'alg': 'none', 'kid': published['kid']})}.{payload}."
    expired = _signed({**claims, "exp": int(time.time()) - 1}, alg="Ed25519")
    listed = _signed({**claims, "aud": [AUD, "another"]}, alg="Ed25519")
    old_style = _signed(claims, alg="EdDSA")
    cases = [
        {"token": token, "audience": AUD},
        {"token": old_style, "audience": AUD},
        {"token": token, "audience": "another-gateway"},
        {"token": tampered, "audience": AUD},
        {"token": confused.serialize(compact=True), "audience": AUD},
        {"token": unsigned, "audience": AUD},
        {"token": expired, "audience": AUD},
        {"token": listed, "audience": AUD},
    ]
    # when the recipe runs as written, in an isolated interpreter without Django
    completed = subprocess.run(
        [sys.executable, "-I", "-c", _recipe() + _DRIVER],
        input=json.dumps({"jwks": keyset, "cases": cases}),
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", "")},
        check=False,
    )
    # then
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == [
        {"claims": expected},
        {"claims": expected},
        {"rejected": "InvalidAudienceError"},
        {"rejected": "InvalidSignatureError"},
        {"rejected": "InvalidAlgorithmError"},
        {"rejected": "InvalidAlgorithmError"},
        {"rejected": "ExpiredSignatureError"},
        {"rejected": "InvalidAudienceError"},
    ]

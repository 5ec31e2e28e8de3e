"""A fake registry for the client's unit tests: an httpx.MockTransport answering like the
registry's API (the live registry is exercised by the project's end-to-end test)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import pytest
from governance_client import Client
from jwcrypto import jwk, jws

BASE = "https://registry.test"


class FakeRegistry:
    def __init__(self):
        self.key = jwk.JWK.generate(kty="OKP", crv="Ed25519", kid="k1")
        self.calls: list[tuple[str, str]] = []
        self.routes: dict[tuple[str, str], Callable[[httpx.Request], httpx.Response]] = {}
        self.tokens_issued = 0
        self.route("POST", "/o/token/", self._token)
        self.route("GET", "/api/v1/access/keys", self._keys)

    def route(self, method: str, path: str, handler) -> None:
        self.routes[(method, path)] = handler

    def _token(self, request: httpx.Request) -> httpx.Response:
        self.tokens_issued += 1
        return httpx.Response(
            200,
            json={
                "access_token": f"token-{self.tokens_issued}",
                "token_type": "Bearer",
                "expires_in": 3600,
            },
        )

    def jwks(self) -> dict:
        public = self.key.export_public(as_dict=True)
        return {"keys": [{**public, "use": "sig", "alg": "Ed25519"}]}

    def _keys(self, request):
        return httpx.Response(
            200, json=self.jwks(), headers={"Cache-Control": "public, max-age=300"}
        )

    def lease(self, **overrides) -> str:
        now = int(time.time())
        claims = {
            "iss": "governance-registry",
            "aud": "governance-data-gateway",
            "sub": "service_account:job",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "jti": "dec-1",
            "lease": {"dataset": "events", "purpose": "churn", "fields": [], "obligations": {}},
            **overrides,
        }
        token = jws.JWS(json.dumps(claims).encode())
        token.add_signature(
            self.key, alg="Ed25519", protected=json.dumps({"alg": "Ed25519", "kid": "k1"})
        )
        return token.serialize(compact=True)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls.append((request.method, request.url.path))
        handler = self.routes.get((request.method, request.url.path))
        if handler is None:
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}})
        return handler(request)


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(registry, sleeps) -> Client:
    return Client(
        BASE,
        "client-id",
        "client-secret",
        transport=httpx.MockTransport(registry.handle),
        sleep=sleeps.append,
        retries=3,
        backoff=0.5,
    )

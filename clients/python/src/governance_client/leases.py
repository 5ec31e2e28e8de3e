"""Offline verification of access leases (compact JWS, Ed25519) against the registry's
published keys — the same checks, in the same order, as docs/leases.md.

Gateways pin their own ``audience``. A job that only wants to know its lease is genuine and
current (before writing it into a run manifest) passes ``ANY_AUDIENCE``."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping

from jwcrypto import jwk, jws
from jwcrypto.common import JWException, base64url_decode

from governance_client.errors import LeaseInvalid

ALGORITHMS = (
    "Ed25519",
    "EdDSA",
)  # RFC 9864's name first; the deprecated alias during the transition
ANY_AUDIENCE = object()
_BASE64URL = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _json_object(data) -> dict:
    try:
        value = json.loads(data)
    except ValueError:
        raise LeaseInvalid("malformed") from None
    if not isinstance(value, dict):
        raise LeaseInvalid("malformed")
    return value


def header_of(token: str) -> dict:
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3 or not all(set(part) <= _BASE64URL for part in parts[:2]):
        raise LeaseInvalid("malformed")
    try:
        return _json_object(base64url_decode(parts[0]))
    except ValueError:
        raise LeaseInvalid("malformed") from None


def verify_lease(
    token: str,
    keyset: Mapping,
    *,
    audience,
    issuer: str = "governance-registry",
    now: float | None = None,
    algorithms: tuple[str, ...] = ALGORITHMS,
) -> dict:
    """The claims of a genuine, current lease for ``audience``; LeaseInvalid(reason) else."""
    header = header_of(token)
    alg = header.get("alg")
    if alg not in algorithms:
        raise LeaseInvalid("bad_algorithm")
    if "crit" in header or "b64" in header:
        raise LeaseInvalid("malformed")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise LeaseInvalid("unknown_key")
    for member in keyset.get("keys", []) if isinstance(keyset, Mapping) else []:
        if (
            isinstance(member, Mapping)
            and member.get("kid") == kid
            and member.get("kty") == "OKP"
            and member.get("crv") == "Ed25519"
        ):
            try:
                key = jwk.JWK(kty="OKP", crv="Ed25519", x=member["x"])
            except (JWException, ValueError, TypeError, KeyError):
                continue
            break
    else:
        raise LeaseInvalid("unknown_key")
    signed = jws.JWS()
    signed.allowed_algs = [alg]
    try:
        signed.deserialize(token)
    except JWException:
        raise LeaseInvalid("malformed") from None
    try:
        signed.verify(key, alg=alg)
    except JWException:
        raise LeaseInvalid("bad_signature") from None
    claims = _json_object(signed.payload)
    times_ok = all(
        isinstance(claims.get(name), int | float) and not isinstance(claims.get(name), bool)
        for name in ("exp", "nbf")
    )
    if not times_ok or not isinstance(claims.get("lease"), dict):
        raise LeaseInvalid("malformed")
    if claims.get("iss") != issuer:
        raise LeaseInvalid("wrong_issuer")
    if audience is not ANY_AUDIENCE and claims.get("aud") != audience:
        raise LeaseInvalid("wrong_audience")
    moment = time.time() if now is None else now
    if moment >= claims["exp"]:
        raise LeaseInvalid("expired")
    if moment < claims["nbf"]:
        raise LeaseInvalid("not_yet_valid")
    return claims

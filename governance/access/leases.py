"""Signed, time-boxed access leases (JWS, Ed25519) and the public keys that verify them.

An ``allow`` from the check API carries a lease: a compact JWS whose claims say who may read
which fields of which dataset, for which purpose, under which obligations, until when. A data
gateway verifies it offline against the JWK Set published at ``GET /api/v1/access/keys``
(see docs/leases.md, which also holds a standalone verifier with no Django in it).

The private keys live in one JWK Set file (``ACCESS_LEASE_KEY_FILE``) shared by every web
process: the first key signs, every key's public half is published, so rotating is "prepend a
new key, retire the old one once the longest lease it signed has expired".
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from jwcrypto import jwk, jws
from jwcrypto.common import JWException, base64url_decode
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.audit import services as audit
from governance.errors import Conflict, NotFound
from governance.keyfile import CREATED, Ed25519KeyFile

DEFAULT_ISSUER = "governance-registry"
DEFAULT_AUDIENCE = "governance-data-gateway"
JWKS_MAX_AGE_SECONDS = 300
# RFC 9864 deprecates the polymorphic "EdDSA" for the fully specified "Ed25519" (same key, same
# signature). New leases name ACCESS_LEASE_ALGORITHM; both names verify while
# ACCESS_LEASE_ACCEPT_EDDSA is on (the transition; docs/leases.md).
ED25519 = "Ed25519"
EDDSA = "EdDSA"
ALGORITHMS = (ED25519, EDDSA)

# LeaseInvalid.reason values.
BAD_SIGNATURE = "bad_signature"
EXPIRED = "expired"
NOT_YET_VALID = "not_yet_valid"
UNKNOWN_KEY = "unknown_key"
WRONG_ISSUER = "wrong_issuer"
WRONG_AUDIENCE = "wrong_audience"
MALFORMED = "malformed"
BAD_ALGORITHM = "bad_algorithm"

MSG_EXPIRES_NAIVE = "expires_at must be an aware datetime."
MSG_ISSUED_NAIVE = "issued_at must be an aware datetime."
MSG_EXPIRES_PAST = "expires_at must be in the future."
MSG_EXPIRES_BEFORE_ISSUE = "expires_at must be at least one second after issued_at."
MSG_PRINCIPAL_ID = 'principal must carry an "id" such as "service_account:fraud-training".'
MSG_DECISION_ID = "decision_id must be a non-empty string."
MSG_FIELDS = "fields must be a list of field names."
MSG_NOW_NAIVE = "now must be an aware datetime."
MSG_KEYSET = 'keyset must be a JWK Set: {"keys": [...]}.'
MSG_AUDIENCE = "audience must be a non-empty string: the gateway or store verifying the lease."

MSG_RETIRE_UNKNOWN = "No key with kid {kid!r} in {path}."
MSG_RETIRE_SIGNING = (
    "Key {kid!r} is the signing key; rotate first so another key signs, then retire it once "
    "the leases it signed have expired."
)
MSG_RETIRE_TOO_EARLY = (
    "Key {kid!r} stopped signing at {since:%Y-%m-%d %H:%M} UTC; leases it signed may be valid "
    "until {until:%Y-%m-%d %H:%M} UTC. Retire it after that, or force it."
)

_PRINCIPAL_ID = re.compile(r"[a-z][a-z_]*:\S.*")
# Compact serialization only, strict base64url: no JSON serialization, no stray characters
# for a lenient decoder to skip. The signature may be empty so "alg": "none" is reported as such.
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


class LeaseInvalid(Exception):
    """A lease that must not be honoured. ``reason`` is one of the short codes above."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# --- Key file -------------------------------------------------------------------------------

KEY_FILE = Ed25519KeyFile(
    setting="ACCESS_LEASE_KEY_FILE",
    default_name="lease-signing.jwks.json",
    label="lease key file",
    command="lease_keys rotate",
)


def _issuer() -> str:
    return getattr(settings, "ACCESS_LEASE_ISSUER", DEFAULT_ISSUER)


def signing_algorithm() -> str:
    return getattr(settings, "ACCESS_LEASE_ALGORITHM", ED25519)


def accepted_algorithms() -> tuple[str, ...]:
    """The algorithm names a lease may carry: the fully specified one always, the deprecated
    "EdDSA" while the transition lasts (and always while leases are still signed with it)."""
    if getattr(settings, "ACCESS_LEASE_ACCEPT_EDDSA", True) or signing_algorithm() == EDDSA:
        return ALGORITHMS
    return (ED25519,)


def lease_audience(*, storage_kind: str, connection: str) -> str:
    """The ``aud`` of a lease for a dataset: the data gateway or store it lives in. Looked up
    in ACCESS_LEASE_AUDIENCES by the dataset's connection name, then by its storage kind;
    else ACCESS_LEASE_AUDIENCE."""
    audiences = getattr(settings, "ACCESS_LEASE_AUDIENCES", {}) or {}
    for key in (connection, storage_kind):
        if key and key in audiences:
            return audiences[key]
    return getattr(settings, "ACCESS_LEASE_AUDIENCE", DEFAULT_AUDIENCE)


def signing_keys() -> list[jwk.JWK]:
    """The private lease keys from ``ACCESS_LEASE_KEY_FILE``, signing key first.

    Creates the file with one new key when it does not exist; when several processes race to
    create it, all of them end up using the one file that won. Every call stats the file, so a
    rotation by ``manage.py lease_keys`` is picked up by running processes without a restart.
    Raises ImproperlyConfigured, naming the file, when it is not a set of private Ed25519 keys.
    """
    return KEY_FILE.signing_keys()


def lease_key_rotate(*, actor=None) -> str:
    """Prepend a new signing key and keep the others, so leases they signed still verify.
    Returns the new kid. Gateways that cache the key set see the new key within
    ``JWKS_MAX_AGE_SECONDS`` or at once if they refetch on an unknown kid (docs/leases.md)."""
    KEY_FILE.signing_keys()  # creates the file when missing, and refuses a malformed one
    with KEY_FILE.lock(), transaction.atomic(durable=True):
        members = KEY_FILE.members()
        new = KEY_FILE.new_member()
        audit.record(
            action="access.lease_key_rotated",
            actor=actor,
            data={"kid": new["kid"], "previous_kid": members[0]["kid"]},
            object_repr=f"lease key {new['kid']}",
        )
        # Written inside the transaction: if the write fails, the audit event rolls back.
        KEY_FILE.replace([new, *members])
    return new["kid"]


def lease_key_retire(*, kid: str, actor=None, force: bool = False) -> None:
    """Remove a key that no longer signs. Refuses the signing key (and so the last key), and a
    key whose leases may still be valid: the longest grant, counted from when the next key
    took over signing. Raises NotFound / Conflict with a message for the operator."""
    path = KEY_FILE.path
    if not path.exists():
        raise NotFound(MSG_RETIRE_UNKNOWN.format(kid=kid, path=path))
    with KEY_FILE.lock(), transaction.atomic(durable=True):
        members = KEY_FILE.members()
        positions = [i for i, member in enumerate(members) if member["kid"] == kid]
        if not positions:
            raise NotFound(MSG_RETIRE_UNKNOWN.format(kid=kid, path=path))
        position = positions[0]
        if position == 0:
            raise Conflict(MSG_RETIRE_SIGNING.format(kid=kid))
        since_epoch = members[position - 1].get(CREATED)
        if isinstance(since_epoch, int) and not force:
            since = datetime.fromtimestamp(since_epoch, tz=UTC)
            until = since + _longest_lease()
            if timezone.now() < until:
                raise Conflict(MSG_RETIRE_TOO_EARLY.format(kid=kid, since=since, until=until))
        audit.record(
            action="access.lease_key_retired",
            actor=actor,
            data={"kid": kid, "forced": force},
            object_repr=f"lease key {kid}",
        )
        KEY_FILE.replace(members[:position] + members[position + 1 :])


def _longest_lease() -> timedelta:
    """A lease never outlives its grant, so no lease lasts longer than the longest grant."""
    days = getattr(settings, "ACCESS_MAX_GRANT_DAYS", {}) or {"default": 365}
    return timedelta(days=max(days.values()))


def jwks() -> dict:
    """The public JWK Set (RFC 7517) that verifies leases: every key in the file, signing key
    first, each naming the algorithm new leases are signed with."""
    published = KEY_FILE.public_keys()
    algorithm = signing_algorithm()
    return {"keys": [{**member, "alg": algorithm} for member in published["keys"]]}


# --- Issue and verify -----------------------------------------------------------------------


def lease_issue(
    *,
    decision_id: str,
    principal: dict,
    dataset: str,
    purpose: str,
    fields: list[str],
    obligations: dict,
    expires_at: datetime,
    issued_at: datetime | None = None,
    audience: str | None = None,
) -> str:
    """A compact JWS (a JWT) signed with the first key of the key file.

    ``audience`` (the ``aud`` claim) names the data gateway or store that may honour it
    (``lease_audience``); ACCESS_LEASE_AUDIENCE when not given.

    ``principal`` is the caller as JSON, with an ``"id"`` such as ``"service_account:fraud-
    training"`` or ``"user:bob"`` that becomes ``sub``; ``decision_id`` becomes ``jti``.
    Times are whole seconds, rounded down, so the lease never outlives ``expires_at``.
    """
    now = timezone.now()
    issued_at = now if issued_at is None else issued_at
    if timezone.is_naive(expires_at):
        raise ValueError(MSG_EXPIRES_NAIVE)
    if timezone.is_naive(issued_at):
        raise ValueError(MSG_ISSUED_NAIVE)
    if expires_at <= now:
        raise ValueError(MSG_EXPIRES_PAST)
    issued = math.floor(issued_at.timestamp())
    expires = math.floor(expires_at.timestamp())
    if expires <= issued:
        raise ValueError(MSG_EXPIRES_BEFORE_ISSUE)
    subject = principal.get("id") if isinstance(principal, dict) else None
    if not isinstance(subject, str) or not _PRINCIPAL_ID.fullmatch(subject):
        raise ValueError(MSG_PRINCIPAL_ID)
    if not isinstance(decision_id, str) or not decision_id:
        raise ValueError(MSG_DECISION_ID)
    if isinstance(fields, str) or not all(isinstance(name, str) for name in fields):
        raise ValueError(MSG_FIELDS)
    audience = audience or getattr(settings, "ACCESS_LEASE_AUDIENCE", DEFAULT_AUDIENCE)
    claims = {
        "iss": _issuer(),
        "aud": audience,
        "sub": subject,
        "iat": issued,
        "nbf": issued,
        "exp": expires,
        "jti": decision_id,
        "lease": {
            "principal": principal,
            "dataset": dataset,
            "purpose": purpose,
            "fields": list(fields),
            "obligations": obligations,
        },
    }
    key = signing_keys()[0]
    algorithm = signing_algorithm()
    token = jws.JWS(json.dumps(claims, separators=(",", ":")).encode())
    token.add_signature(
        key,
        alg=algorithm,
        protected=json.dumps({"alg": algorithm, "typ": "JWT", "kid": key["kid"]}),
    )
    return token.serialize(compact=True)


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    document = dict(pairs)
    if len(document) != len(pairs):
        # Two parsers that pick different duplicates would read different leases.
        raise ValueError("duplicate member")
    return document


def _json_segment(segment: str) -> dict:
    try:
        document = json.loads(base64url_decode(segment), object_pairs_hook=_reject_duplicates)
    except (ValueError, UnicodeDecodeError):
        raise LeaseInvalid(MALFORMED) from None
    if not isinstance(document, dict):
        raise LeaseInvalid(MALFORMED)
    return document


def _verification_key(keyset: Mapping, kid: str) -> jwk.JWK:
    if not isinstance(keyset, Mapping) or not isinstance(keyset.get("keys"), list):
        raise ValueError(MSG_KEYSET)
    for member in keyset["keys"]:
        if not isinstance(member, Mapping) or member.get("kid") != kid:
            continue
        if (
            member.get("kty") != "OKP"
            or member.get("crv") != "Ed25519"
            or member.get("alg", ED25519) not in ALGORITHMS
            or member.get("use", "sig") != "sig"
        ):
            continue  # a key of this kid that cannot verify an EdDSA lease
        try:
            # Only the public members: a private or otherwise decorated key verifies the same.
            return jwk.JWK(kty="OKP", crv="Ed25519", x=member.get("x"))
        except (JWException, ValueError, TypeError):
            continue
    raise LeaseInvalid(UNKNOWN_KEY)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def lease_verify(
    token: str,
    keyset: dict,
    *,
    audience: str,
    now: datetime | None = None,
    issuer: str | None = None,
) -> dict:
    """The claims of a lease that is genuine, current and meant for ``audience``; else
    LeaseInvalid(reason).

    The algorithm is fixed to Ed25519 (or, during the transition, its deprecated name EdDSA)
    before any key is chosen, so a token cannot pick HS256 with the public key as its
    secret, nor "none". The key is chosen by ``kid`` from ``keyset`` (a JWK Set such as
    ``jwks()``), the signature is checked before any claim is read, then ``iss``, ``aud``
    (the lease names exactly this audience; a lease without one is refused), ``exp`` (now <
    exp) and ``nbf`` (nbf <= now) with no leeway.
    """
    now = timezone.now() if now is None else now
    if timezone.is_naive(now):
        raise ValueError(MSG_NOW_NAIVE)
    if not isinstance(audience, str) or not audience:
        raise ValueError(MSG_AUDIENCE)
    expected_issuer = _issuer() if issuer is None else issuer

    if not isinstance(token, str) or not _COMPACT.fullmatch(token):
        raise LeaseInvalid(MALFORMED)
    header = _json_segment(token.split(".", 1)[0])
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm not in accepted_algorithms():
        raise LeaseInvalid(BAD_ALGORITHM)
    if "crit" in header or "b64" in header:
        raise LeaseInvalid(MALFORMED)  # extensions we never issue
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise LeaseInvalid(UNKNOWN_KEY)
    key = _verification_key(keyset, kid)

    signed = jws.JWS()
    signed.allowed_algs = [algorithm]
    try:
        signed.deserialize(token)
    except JWException:
        raise LeaseInvalid(MALFORMED) from None
    try:
        signed.verify(key, alg=algorithm)
    except JWException:
        raise LeaseInvalid(BAD_SIGNATURE) from None

    try:
        claims = json.loads(signed.payload, object_pairs_hook=_reject_duplicates)
    except (ValueError, UnicodeDecodeError):
        raise LeaseInvalid(MALFORMED) from None
    if (
        not isinstance(claims, dict)
        or not all(_is_number(claims.get(name)) for name in ("exp", "nbf", "iat"))
        or not all(isinstance(claims.get(name), str) for name in ("iss", "sub", "jti"))
        or not isinstance(claims.get("lease"), dict)
    ):
        raise LeaseInvalid(MALFORMED)
    if claims["iss"] != expected_issuer:
        raise LeaseInvalid(WRONG_ISSUER)
    if claims.get("aud") != audience:  # one audience per lease: a string, never a list
        raise LeaseInvalid(WRONG_AUDIENCE)
    moment = now.timestamp()
    if moment >= claims["exp"]:
        raise LeaseInvalid(EXPIRED)
    if moment < claims["nbf"]:
        raise LeaseInvalid(NOT_YET_VALID)
    return claims


# --- API ------------------------------------------------------------------------------------


class LeaseKeysApi(APIView):
    """The public keys that verify access leases, as a JWK Set. Public keys are public: no
    authentication, no throttling, cacheable for five minutes."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    class OutputSerializer(serializers.Serializer):
        class KeySerializer(serializers.Serializer):
            class Meta:
                ref_name = "Jwk"

            # Plain strings, not choices: one-value enums would add generic AlgEnum/UseEnum
            # components to the API schema that other endpoints could collide with.
            kty = serializers.CharField(help_text='Always "OKP".')
            crv = serializers.CharField(help_text='Always "Ed25519".')
            x = serializers.CharField(help_text="The public key, base64url.")
            kid = serializers.CharField(help_text="Key id (RFC 7638 thumbprint), as in a lease.")
            use = serializers.CharField(help_text='Always "sig".')
            alg = serializers.CharField(
                help_text='"Ed25519" (RFC 9864), or "EdDSA" where ACCESS_LEASE_ALGORITHM '
                "still names the deprecated algorithm."
            )

        class Meta:
            ref_name = "Jwks"

        keys = KeySerializer(many=True)

    @extend_schema(
        operation_id="access_keys",
        responses={200: OutputSerializer},
        auth=[],
        description="Public Ed25519 keys (JWKS, RFC 7517) that verify access leases by kid.",
    )
    def get(self, request: Request) -> Response:
        response = Response(self.OutputSerializer(jwks()).data)
        response["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE_SECONDS}"
        return response

"""Tokens of a purpose's pseudonymization key: the same function as the registry's
(governance/access/pseudonyms.py), so a token made by a job can be verified by anyone holding
the purpose's key version.

``v<version>.`` + base64url(HMAC-SHA256(secret, "pseudonym:" + value)[:16]), no padding."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

TOKEN_BYTES = 16


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def pseudonym(secret: bytes, version: int, value: str) -> str:
    digest = hmac.new(secret, b"pseudonym:" + str(value).encode(), hashlib.sha256).digest()
    return f"v{version}." + base64.urlsafe_b64encode(digest[:TOKEN_BYTES]).rstrip(b"=").decode()


@dataclass(frozen=True)
class PurposeKeys:
    """The secrets the registry handed out for one purpose: the current version first, then
    older ones still within their grace period (to verify tokens made with them)."""

    purpose: str
    versions: dict[int, bytes]
    current: int

    @classmethod
    def from_json(cls, data: dict) -> PurposeKeys:
        versions = {key["version"]: _b64decode(key["secret"]) for key in data["keys"]}
        current = next(key["version"] for key in data["keys"] if key["current"])
        return cls(purpose=data["purpose"], versions=versions, current=current)

    def pseudonymize(self, value) -> str | None:
        if value is None:
            return None
        return pseudonym(self.versions[self.current], self.current, str(value))

    def verify(self, value, token: str) -> bool:
        """Whether ``token`` is ``value``'s token under a version this job still holds."""
        version_text, _, _ = token.partition(".")
        try:
            version = int(version_text.removeprefix("v"))
        except ValueError:
            return False
        secret = self.versions.get(version)
        if secret is None:
            return False
        return hmac.compare_digest(pseudonym(secret, version, str(value)), token)

    def __repr__(self) -> str:  # never print secrets
        return f"PurposeKeys(purpose={self.purpose!r}, versions={sorted(self.versions)})"

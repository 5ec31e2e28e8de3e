"""Per-purpose pseudonymization: one secret per purpose (and key version), encrypted at rest,
handed to a job only with an ``allow`` for a dataset of that purpose.

A token is ``v<version>.`` + base64url of the first 16 bytes of
HMAC-SHA256(secret, "pseudonym:" + value). The same value gives the same token within a
purpose and key version; two purposes have unrelated random secrets, so their tokens cannot be
joined (nor reversed without the secret). The function is written out in the Python client
(``governance_client.pseudonyms``) and both are tested against each other.

Secrets are encrypted with AES-256-GCM under the first master key of
``PSEUDONYM_MASTER_KEYS`` (``nonce || ciphertext``; the purpose and version are associated
data). Every configured master key decrypts, so rotating the master key is: put a new key
first, run ``manage.py pseudonym_keys reencrypt`` (one row per transaction, readers never
wait), then drop the old key. Without ``PSEUDONYM_MASTER_KEYS`` the master key is derived from
SECRET_KEY; keys derived from SECRET_KEY_FALLBACKS keep decrypting after a SECRET_KEY rotation
(and after master keys are first configured) until ``reencrypt`` has run.
Rotating a purpose's secret (``pseudonym_keys rotate PURPOSE``)
makes a new version; the previous one is still handed out for ``PSEUDONYM_KEY_GRACE_DAYS``
so tokens made with it stay verifiable. See docs/training-jobs.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone

from governance.access.models import PurposeKey
from governance.audit import services as audit

TOKEN_BYTES = 16
DERIVED_KID = "derived-from-secret-key"
ALGORITHM = "HMAC-SHA256-128"

MSG_MASTER_KEY = (
    "PSEUDONYM_MASTER_KEYS must look like kid=<base64url of 32 random bytes>;... "
    '(generate one with: python -c "import os,base64;'
    'print(base64.urlsafe_b64encode(os.urandom(32)).decode())")'
)
MSG_UNKNOWN_MASTER = (
    "Pseudonymization key {purpose} v{version} is encrypted under master key {kid!r}, which "
    "neither PSEUDONYM_MASTER_KEYS nor SECRET_KEY (or SECRET_KEY_FALLBACKS) provides any more; "
    "put it back and run pseudonym_keys reencrypt."
)
MSG_TAMPERED = (
    "Pseudonymization key {purpose} v{version} does not decrypt: it was altered, or it was "
    "made under a SECRET_KEY that is no longer in SECRET_KEY_FALLBACKS."
)


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def parse_master_keys(mapping: dict[str, str]) -> dict[str, bytes]:
    """kid -> 32-byte key, in the configured order (the first encrypts). Raises
    ImproperlyConfigured (never showing key material) on anything else."""
    keys: dict[str, bytes] = {}
    for kid, text in mapping.items():
        try:
            raw = _b64decode(text)
        except ValueError:
            raise ImproperlyConfigured(MSG_MASTER_KEY) from None
        if len(raw) != 32 or not kid:
            raise ImproperlyConfigured(MSG_MASTER_KEY)
        keys[kid] = raw
    return keys


def _derived_key(secret_key: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"governance pseudonym master key"
    ).derive(secret_key.encode())


def _derived_kid(key: bytes) -> str:
    """A derived key's name: which SECRET_KEY it came from, without revealing it."""
    return "derived-" + hashlib.sha256(b"pseudonym master kid:" + key).hexdigest()[:12]


def _derived_keys() -> dict[str, bytes]:
    """Keys derived from SECRET_KEY and every SECRET_KEY_FALLBACKS key, current first."""
    secret_keys = [settings.SECRET_KEY, *(getattr(settings, "SECRET_KEY_FALLBACKS", []) or [])]
    keys = [_derived_key(secret_key) for secret_key in secret_keys]
    return {_derived_kid(key): key for key in keys}


def master_keys() -> dict[str, bytes]:
    """kid -> key; the first encrypts, every one decrypts.

    ``PSEUDONYM_MASTER_KEYS`` first when set; the keys derived from SECRET_KEY (and its
    fallbacks) always follow, so secrets made before the master keys were configured, or
    before SECRET_KEY was rotated, still decrypt until ``pseudonym_keys reencrypt`` moves them
    under the first key."""
    configured = parse_master_keys(getattr(settings, "PSEUDONYM_MASTER_KEYS", {}) or {})
    return {**configured, **_derived_keys()}


def _aad(purpose_slug: str, version: int) -> bytes:
    return f"purpose-key:{purpose_slug}:{version}".encode()


def _encrypt(secret: bytes, purpose_slug: str, version: int) -> tuple[str, bytes]:
    kid, key = next(iter(master_keys().items()))
    nonce = os.urandom(12)
    return kid, nonce + AESGCM(key).encrypt(nonce, secret, _aad(purpose_slug, version))


def _decrypt(row: PurposeKey) -> bytes:
    keys = master_keys()
    if row.master_kid == DERIVED_KID:
        # secrets written before derived keys were named: any SECRET_KEY (current or fallback)
        candidates = list(_derived_keys().values())
    elif row.master_kid in keys:
        candidates = [keys[row.master_kid]]
    else:
        raise ImproperlyConfigured(
            MSG_UNKNOWN_MASTER.format(
                purpose=row.purpose_slug, version=row.version, kid=row.master_kid
            )
        )
    blob = bytes(row.ciphertext)
    for key in candidates:
        try:
            return AESGCM(key).decrypt(blob[:12], blob[12:], _aad(row.purpose_slug, row.version))
        except InvalidTag:
            continue
    raise ImproperlyConfigured(MSG_TAMPERED.format(purpose=row.purpose_slug, version=row.version))


def pseudonym(secret: bytes, version: int, value: str) -> str:
    """The token of ``value`` under one purpose key version."""
    digest = hmac.new(secret, b"pseudonym:" + value.encode(), hashlib.sha256).digest()
    return f"v{version}." + _b64encode(digest[:TOKEN_BYTES])


@dataclass(frozen=True)
class IssuedKey:
    version: int
    secret: bytes
    created_at: datetime
    current: bool
    usable_until: datetime | None  # None: the current version

    def as_json(self) -> dict:
        return {
            "version": self.version,
            "secret": _b64encode(self.secret),
            "created_at": self.created_at,
            "current": self.current,
            "usable_until": self.usable_until,
        }


def _current(purpose_slug: str) -> PurposeKey:
    """The current version, created (version 1) on first use. Two first uses at once: the
    one-current constraint lets one insert win, the other reads it."""
    row = PurposeKey.objects.filter(purpose_slug=purpose_slug, superseded_at=None).first()
    if row is not None:
        return row
    secret = os.urandom(32)
    kid, blob = _encrypt(secret, purpose_slug, 1)
    try:
        with transaction.atomic():
            return PurposeKey.objects.create(
                purpose_slug=purpose_slug, version=1, master_kid=kid, ciphertext=blob
            )
    except IntegrityError:
        return PurposeKey.objects.get(purpose_slug=purpose_slug, superseded_at=None)


def grace() -> timedelta:
    return timedelta(days=getattr(settings, "PSEUDONYM_KEY_GRACE_DAYS", 90))


def purpose_keys(purpose_slug: str, *, now: datetime | None = None) -> list[IssuedKey]:
    """The current version and the previous ones still within their grace period."""
    now = now or timezone.now()
    current = _current(purpose_slug)
    older = PurposeKey.objects.filter(
        purpose_slug=purpose_slug, superseded_at__gt=now - grace()
    ).order_by("-version")
    keys = [IssuedKey(current.version, _decrypt(current), current.created_at, True, None)]
    keys += [
        IssuedKey(row.version, _decrypt(row), row.created_at, False, row.superseded_at + grace())
        for row in older
    ]
    return keys


@transaction.atomic(durable=True)
def purpose_key_rotate(*, purpose_slug: str, actor=None) -> PurposeKey:
    """A new secret for the purpose: new tokens differ; the previous version is still handed
    out for PSEUDONYM_KEY_GRACE_DAYS, so tokens made with it can be verified (and mapped)."""
    current = _current(purpose_slug)
    current = PurposeKey.objects.select_for_update().get(pk=current.pk)
    now = timezone.now()
    PurposeKey.objects.filter(pk=current.pk).update(superseded_at=now)
    version = current.version + 1
    kid, blob = _encrypt(os.urandom(32), purpose_slug, version)
    row = PurposeKey.objects.create(
        purpose_slug=purpose_slug,
        version=version,
        master_kid=kid,
        ciphertext=blob,
        created_by=actor,
        created_at=now,
    )
    audit.record(
        action="access.pseudonym_key_rotated",
        target=row,
        actor=actor,
        data={"purpose": purpose_slug, "version": version, "previous": current.version},
    )
    return row


def purpose_keys_reencrypt(*, actor=None) -> int:
    """Re-encrypt every purpose secret under the first master key, one row per transaction
    (row-locked, so a concurrent rotation is not lost); readers keep decrypting with whichever
    configured key a row names. Returns how many rows changed."""
    kid = next(iter(master_keys()))
    changed = 0
    for pk in PurposeKey.objects.exclude(master_kid=kid).values_list("pk", flat=True):
        with transaction.atomic(durable=True):
            row = PurposeKey.objects.select_for_update().get(pk=pk)
            if row.master_kid == kid:
                continue
            secret = _decrypt(row)
            new_kid, blob = _encrypt(secret, row.purpose_slug, row.version)
            PurposeKey.objects.filter(pk=pk).update(master_kid=new_kid, ciphertext=blob)
            audit.record(
                action="access.pseudonym_key_reencrypted",
                target=row,
                actor=actor,
                data={
                    "purpose": row.purpose_slug,
                    "version": row.version,
                    "from_master": row.master_kid,
                    "to_master": new_kid,
                },
            )
            changed += 1
    return changed

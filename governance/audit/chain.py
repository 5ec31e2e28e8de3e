"""The hash chain over the ledger, its signed checkpoints, verification and export bundles.

Format (v1) — docs/audit-verification.md says the same for people writing their own verifier:

* **Canonical entry** (``canonical_entry``): a JSON object, keys sorted, no whitespace
  (``separators=(",", ":")``), UTF-8 with non-ASCII characters unescaped, no NaN/Infinity,
  with exactly these members::

      id, timestamp, action, event, content_type, object_pk, object_id, object_repr,
      changes, changes_text, serialized_data, additional_data,
      actor_id, actor_label, actor_email, cid, remote_addr, remote_port

  ``timestamp`` is UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always six fraction digits);
  ``content_type`` is ``"app_label.model"`` or null; integers are JSON integers; JSON columns
  are embedded as JSON values (objects' keys sorted too); floats are written as Python's
  shortest round-trip repr. A canonical entry never contains a newline byte.
* ``entry_hash = sha256(canonical_entry)`` as 64 lowercase hex digits.
* ``chain_hash[n] = sha256(0x01 || bytes.fromhex(chain_hash[n-1]) || bytes.fromhex(entry_hash[n]))``
  with ``chain_hash[-1]`` = 64 zeros (``GENESIS``). The head of a chain of size N is
  ``chain_hash[N-1]``, or GENESIS when N = 0.
* **Checkpoint**: the UTF-8 text ``"governance-ledger-checkpoint/v1\\n{size}\\n{head_hash}\\n
  {created_at}\\n"`` (created_at formatted like timestamps above), signed with Ed25519
  (RFC 8032, pure). ``signature`` is the raw 64-byte signature, base64url without padding;
  ``kid`` names the key in the public JWK Set (RFC 7517, ``kty OKP``, ``crv Ed25519``).

Sealing (``seal``) appends ``ChainLink`` rows only; it never updates a ledger row. Only
sealers and checkpoint writers take the advisory lock; appends to the ledger take none. See
docs/adr/0007-hash-chain-and-checkpoints.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import json.scanner
import math
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone
from jwcrypto import jwk

from governance.audit.models import ChainLink, Checkpoint, LedgerEntry
from governance.keyfile import ALGORITHM, Ed25519KeyFile  # noqa: F401 (ALGORITHM re-exported)

GENESIS = "0" * 64
CHECKPOINT_FORMAT = "governance-ledger-checkpoint/v1"
BUNDLE_FORMAT = "governance-ledger-bundle/v1"
# pg_advisory_xact_lock key shared by every sealer and checkpoint writer ("ledger" in ASCII).
SEAL_LOCK_KEY = 0x6C6564676572

CANONICAL_FIELDS = (
    "id",
    "timestamp",
    "action",
    "event",
    "content_type",
    "object_pk",
    "object_id",
    "object_repr",
    "changes",
    "changes_text",
    "serialized_data",
    "additional_data",
    "actor_id",
    "actor_label",
    "actor_email",
    "cid",
    "remote_addr",
    "remote_port",
)


# --- Hashing ---------------------------------------------------------------------------------


def format_time(moment: datetime) -> str:
    """UTC, microseconds always present: 2026-11-28T01:08:00.000000Z."""
    if timezone.is_naive(moment):
        raise ValueError("timestamps in the chain must be aware datetimes")
    moment = moment.astimezone(UTC)
    if moment.year < 1000:
        # strftime's %Y does not pad such years on this platform, isoformat would: keep the
        # bytes old chains were sealed with.
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # The same bytes as strftime("%Y-%m-%dT%H:%M:%S.%fZ") (tests/audit pins it), at a
    # fraction of the cost: "YYYY-MM-DDTHH:MM:SS.ffffff+00:00" without the offset.
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"


_CANONICAL_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def _no_default(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
# builds a new encoder on every call; the hot paths (sealing, verification, appends) reuse one
# C encoder (no circular-reference markers: the values come from JSON columns or from
# json.loads, which cannot hold cycles). Same bytes (tests/audit/test_canonical.py).
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
if _c_make_encoder is not None:
    _c_encode = _c_make_encoder(
        None, _no_default, json.encoder.encode_basestring, None, ":", ",", True, False, False
    )

    def _encode(value: Any) -> str:
        return "".join(_c_encode(value, 0))

else:  # pragma: no cover - CPython always has the C encoder
    _encode = _CANONICAL_ENCODER.encode


def canonical_json(value: Any) -> bytes:
    return _CANONICAL_ENCODER.encode(value).encode("utf-8")


def _content_type_label(content_type_id: int | None) -> str | None:
    if content_type_id is None:
        return None
    content_type = ContentType.objects.get_for_id(content_type_id)  # cached per process
    return f"{content_type.app_label}.{content_type.model}"


def canonical_entry(entry: LedgerEntry) -> bytes:
    """The exact bytes that are hashed for ``entry`` (format in the module docstring)."""
    return canonical_row(tuple(getattr(entry, attname) for attname in ENTRY_ATTNAMES))


# The ledger columns of the canonical entry, in CANONICAL_FIELDS order, as model attributes
# (``content_type_id``, ``actor_id``) and as ``values_list`` names: sealing and verification
# read tuples, not model instances (issue 14: building instances cost more than hashing).
ENTRY_ATTNAMES = tuple(
    f"{name}_id" if name in ("content_type",) else name for name in CANONICAL_FIELDS
)


def canonical_row(values: tuple, labels: dict | None = None) -> bytes:
    """``canonical_entry`` of a row read as ``entry_values`` yields it (ENTRY_ATTNAMES order).
    ``labels`` caches content type labels for one pass over many rows."""
    document = dict(zip(CANONICAL_FIELDS, values, strict=True))
    document["timestamp"] = format_time(values[1])
    document["action"] = int(values[2])
    content_type_id = values[4]
    if labels is None or content_type_id is None:
        document["content_type"] = _content_type_label(content_type_id)
    else:
        label = labels.get(content_type_id)
        if label is None:
            label = labels[content_type_id] = _content_type_label(content_type_id)
        document["content_type"] = label
    return _encode(document).encode("utf-8")


# --- Hashing at write time ------------------------------------------------------------------

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")  # as PostgreSQL prints an inet host
_INT_LIMIT = 2**63


def _json_reads_back_alike(value: Any) -> bool:
    """True when ``value``, stored in a JSON column and read back, yields the same canonical
    JSON. PostgreSQL's jsonb keeps numbers as ``numeric``: a float printed with a positive
    exponent (1e+16) comes back as an integer and -0.0 as 0.0, so those are left to the
    sealer, which hashes what it reads."""
    if value is None or isinstance(value, str | bool | int):
        return True
    if isinstance(value, float):
        return -1e16 < value < 1e16 and not (value == 0 and math.copysign(1.0, value) < 0)
    if isinstance(value, list | tuple):
        return all(_json_reads_back_alike(item) for item in value)
    if isinstance(value, dict):
        return all(
            isinstance(key, str) and _json_reads_back_alike(item) for key, item in value.items()
        )
    return False


def _integer(value: Any) -> bool:
    return (
        isinstance(value, int) and not isinstance(value, bool) and -_INT_LIMIT <= value < _INT_LIMIT
    )


def _write_document(entry: LedgerEntry) -> dict | None:
    """The canonical document of ``entry`` before it is inserted (without its id), from the
    values about to be written — or None when a value might read back differently (the type
    is not the column's own, an IPv6 address PostgreSQL may print otherwise, a float jsonb
    would rewrite): then no hash is stored and the sealer computes it from the row."""
    timestamp = entry.timestamp
    if not isinstance(timestamp, datetime) or timezone.is_naive(timestamp):
        return None
    offset = timestamp.utcoffset()
    if offset.seconds % 60 or offset.microseconds:
        return None  # PostgreSQL keeps whole-minute offsets only
    object_pk = entry.object_pk
    if _integer(object_pk):
        object_pk = str(object_pk)  # what CharField.to_python makes of it
    remote_addr = entry.remote_addr
    if remote_addr == "":
        remote_addr = None  # GenericIPAddressField writes NULL for an empty address
    checks = (
        _integer(entry.action),
        isinstance(entry.event, str),
        entry.content_type_id is None or _integer(entry.content_type_id),
        isinstance(object_pk, str),
        entry.object_id is None or _integer(entry.object_id),
        isinstance(entry.object_repr, str),
        isinstance(entry.changes_text, str),
        entry.actor_id is None or _integer(entry.actor_id),
        isinstance(entry.actor_label, str),
        entry.actor_email is None or isinstance(entry.actor_email, str),
        entry.cid is None or isinstance(entry.cid, str),
        remote_addr is None or (isinstance(remote_addr, str) and _IPV4.fullmatch(remote_addr)),
        entry.remote_port is None or _integer(entry.remote_port),
        _json_reads_back_alike(entry.changes),
        _json_reads_back_alike(entry.serialized_data),
        _json_reads_back_alike(entry.additional_data),
    )
    if not all(checks):
        return None
    return {
        "action": int(entry.action),
        "actor_email": entry.actor_email,
        "actor_id": entry.actor_id,
        "actor_label": entry.actor_label,
        "additional_data": entry.additional_data,
        "changes": entry.changes,
        "changes_text": entry.changes_text,
        "cid": entry.cid,
        "content_type": _content_type_label(entry.content_type_id),
        "event": entry.event,
        "object_id": entry.object_id,
        "object_pk": object_pk,
        "object_repr": entry.object_repr,
        "remote_addr": remote_addr,
        "remote_port": entry.remote_port,
        "serialized_data": entry.serialized_data,
        "timestamp": format_time(timestamp),
    }


def canonical_parts(entry: LedgerEntry) -> tuple[bytes, bytes] | None:
    """``(prefix, suffix)`` such that ``prefix + str(id) + suffix`` is the canonical entry of
    ``entry`` once the database gives it ``id`` — so the INSERT that allocates the id can
    store the entry's hash (``LedgerEntry.entry_sha256``). None when the bytes cannot be known
    before the row is read back (see ``_write_document``)."""
    try:
        document = _write_document(entry)
        if document is None:
            return None
        # "id" sorts between "event" and "object_id"; both halves always hold members.
        before = _encode({k: v for k, v in document.items() if k < "id"})
        after = _encode({k: v for k, v in document.items() if k > "id"})
    except (TypeError, ValueError, RecursionError, OverflowError):
        return None
    return (before[:-1] + ',"id":').encode("utf-8"), ("," + after[1:]).encode("utf-8")


def canonical_hash_of_new(entry: LedgerEntry, entry_id: int) -> str | None:
    """The entry hash of ``entry`` once inserted under ``entry_id``, or None (see above)."""
    parts = canonical_parts(entry)
    if parts is None:
        return None
    return hashlib.sha256(parts[0] + str(entry_id).encode("ascii") + parts[1]).hexdigest()


def entry_values(queryset):
    """``queryset`` of ledger entries as tuples in ENTRY_ATTNAMES order (no model instances;
    the JSON columns decoded by their fields exactly as for an instance)."""
    return queryset.values_list(*ENTRY_ATTNAMES)


def entry_hash(canonical: bytes) -> str:
    return hashlib.sha256(canonical).hexdigest()


def chain_hash(previous: str, entry_hash_hex: str) -> str:
    return hashlib.sha256(
        b"\x01" + bytes.fromhex(previous) + bytes.fromhex(entry_hash_hex)
    ).hexdigest()


def checkpoint_text(*, size: int, head_hash: str, created_at: datetime | str) -> bytes:
    when = created_at if isinstance(created_at, str) else format_time(created_at)
    return f"{CHECKPOINT_FORMAT}\n{size}\n{head_hash}\n{when}\n".encode()


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if not isinstance(text, str) or not all(c.isalnum() or c in "-_" for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- Sealing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SealResult:
    sealed: int
    size: int
    head: str


def _take_seal_lock() -> None:
    """Serialise sealers and checkpoint writers. On PostgreSQL a transaction-scoped advisory
    lock (released at commit); SQLite's IMMEDIATE transactions (settings) already serialise
    every writer. Ledger appends never take this lock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEAL_LOCK_KEY])


def _head() -> tuple[int, str]:
    last = ChainLink.objects.order_by("-position").only("position", "chain_hash").first()
    if last is None:
        return 0, GENESIS
    return last.position + 1, last.chain_hash


def seal(*, limit: int = 5000) -> SealResult:
    """Give up to ``limit`` committed, not yet sealed entries the next positions, in id order.

    Under the lock, each statement (READ COMMITTED) sees every committed entry and every link
    of earlier sealers. An entry whose transaction commits after a later-numbered entry was
    sealed simply has no link yet: the next run seals it at the next free position, so no
    committed entry escapes the chain and positions stay contiguous."""
    with transaction.atomic(durable=True):
        _take_seal_lock()
        size, head = _head()
        rows = list(
            LedgerEntry.objects.filter(link__isnull=True)
            .order_by("id")
            .values_list("id", "entry_sha256")[: max(limit, 0)]
        )
        computed = _hash_rows([pk for pk, stored in rows if not _is_hex64(stored)])
        now = timezone.now()
        links = []
        sha256 = hashlib.sha256
        fromhex = bytes.fromhex
        previous = fromhex(head)
        for entry_id, stored in rows:
            # The hash the INSERT stored, or the row's own when there is none. Trusting the
            # stored one gives nothing away: verification recomputes every entry from its
            # content, so a row edited after its INSERT (or a forged hash) is reported there.
            hashed = computed.get(entry_id) or fromhex(stored)
            previous = sha256(b"\x01" + previous + hashed).digest()
            links.append((size, entry_id, hashed.hex(), previous.hex(), now))
            size += 1
        if links:
            head = links[-1][3]
        _insert_links(links)
    return SealResult(sealed=len(links), size=size, head=head)


def _hash_rows(entry_ids: list[int]) -> dict[int, bytes]:
    """Entry hashes computed from the rows themselves (entries written without a stored
    hash: before migration 0004, by raw SQL, on SQLite, or with values that might read back
    differently)."""
    hashes: dict[int, bytes] = {}
    labels: dict[int, str] = {}
    for start in range(0, len(entry_ids), 500):
        queryset = LedgerEntry.objects.filter(pk__in=entry_ids[start : start + 500])
        for values in entry_values(queryset):
            hashes[values[0]] = hashlib.sha256(canonical_row(values, labels)).digest()
    return hashes


def _insert_links(links: list[tuple]) -> None:
    """Write (position, entry_id, entry_hash, chain_hash, sealed_at) rows: COPY on PostgreSQL
    (one round trip for the batch), bulk_create elsewhere."""
    if not links:
        return
    if connection.vendor != "postgresql":
        ChainLink.objects.bulk_create(
            ChainLink(position=p, entry_id=e, entry_hash=h, chain_hash=c, sealed_at=t)
            for p, e, h, c, t in links
        )
        return
    table = ChainLink._meta.db_table
    # Integers, hex digits and one ISO timestamp (a seal's links share it): nothing COPY's text
    # format would escape, so the rows go as text blocks (write_row adapts every value).
    sealed_at = links[0][4].isoformat()
    with connection.cursor() as cursor:
        with cursor.cursor.copy(
            f"COPY {table} (position, entry_id, entry_hash, chain_hash, sealed_at) FROM STDIN"
        ) as copy:
            for start in range(0, len(links), 10_000):
                copy.write(
                    "".join(
                        f"{position}\t{entry_id}\t{hashed}\t{chained}\t{sealed_at}\n"
                        for position, entry_id, hashed, chained, _ in links[start : start + 10_000]
                    )
                )


def seal_all(*, limit: int = 5000, max_batches: int = 100) -> SealResult:
    """Seal in batches of ``limit`` until the backlog is empty (or ``max_batches`` ran)."""
    total = 0
    result = SealResult(sealed=0, size=0, head=GENESIS)
    for _ in range(max_batches):
        result = seal(limit=limit)
        total += result.sealed
        if result.sealed < limit:
            break
    return SealResult(sealed=total, size=result.size, head=result.head)


def unsealed_count() -> int:
    return LedgerEntry.objects.filter(link__isnull=True).count()


# --- Checkpoint keys -------------------------------------------------------------------------

KEY_FILE = Ed25519KeyFile(
    setting="AUDIT_CHECKPOINT_KEY_FILE",
    default_name="audit-checkpoint.jwks.json",
    label="checkpoint key file",
    command="audit_keys rotate",
)


def checkpoint_signing_keys() -> list[jwk.JWK]:
    """The private checkpoint keys, signing key first. Creates the file with one new key when
    it is missing (the first of several racing processes wins); re-read when it changes."""
    return KEY_FILE.signing_keys()


def checkpoint_key_rotate() -> str:
    """Prepend a new signing key, keep every old one (old checkpoints must keep verifying:
    never remove a checkpoint key). Returns the new kid."""
    KEY_FILE.signing_keys()  # creates the file when missing, refuses a malformed one
    with KEY_FILE.lock():
        members = KEY_FILE.members()
        new = KEY_FILE.new_member()
        KEY_FILE.replace([new, *members])
    return new["kid"]


def checkpoint_public_keys() -> dict:
    """The public JWK Set that verifies checkpoints: every key, signing key first. Built from
    an allow-list of members so nothing private can leak."""
    return KEY_FILE.public_keys()


# --- Checkpoints -----------------------------------------------------------------------------


def checkpoint_write(*, note: str = "") -> Checkpoint:
    """Sign the current size and head with the first checkpoint key and store it."""
    key = checkpoint_signing_keys()[0]
    with transaction.atomic(durable=True):
        _take_seal_lock()  # size and head of one sealer's committed state, not half of one
        size, head = _head()
        created_at = timezone.now()
        text = checkpoint_text(size=size, head_hash=head, created_at=created_at)
        signature = _b64url(key.get_op_key("sign").sign(text))
        return Checkpoint.objects.create(
            size=size,
            head_hash=head,
            created_at=created_at,
            kid=key["kid"],
            signature=signature,
            note=note[:200],
        )


def checkpoint_document(checkpoint: Checkpoint) -> dict:
    return {
        "size": checkpoint.size,
        "head_hash": checkpoint.head_hash,
        "created_at": format_time(checkpoint.created_at),
        "kid": checkpoint.kid,
        "signature": checkpoint.signature,
        "note": checkpoint.note,
    }


# --- Verification ----------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    size: int
    first_bad_position: int | None
    reason: str
    head: str = GENESIS
    checkpoint: dict | None = None  # the latest verified checkpoint
    unsigned: int = 0  # links after the latest verified checkpoint


def _public_key(public_jwks: Mapping, kid: Any) -> Ed25519PublicKey | None:
    members = public_jwks.get("keys") if isinstance(public_jwks, Mapping) else None
    for member in members if isinstance(members, list) else []:
        if not isinstance(member, Mapping) or member.get("kid") != kid:
            continue
        if member.get("kty") != "OKP" or member.get("crv") != "Ed25519":
            continue
        try:
            return Ed25519PublicKey.from_public_bytes(_b64url_decode(member.get("x")))
        except (ValueError, TypeError):
            continue
    return None


_HEX64 = re.compile(r"[0-9a-f]{64}")


def _is_hex64(value: Any) -> bool:
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def verify(
    *,
    entries_iter: Iterable[tuple[int, bytes]],
    links_iter: Iterable[Mapping],
    checkpoints: Iterable[Mapping],
    public_jwks: Mapping,
    entries_window: tuple[int, int] | None = None,
) -> VerifyResult:
    """Recompute the chain and check the checkpoints; report the first thing that is wrong.

    ``entries_iter`` yields ``(entry_id, canonical_bytes)``; ``links_iter`` yields mappings
    with ``position, entry_id, entry_hash, chain_hash`` in position order; ``checkpoints``
    are mappings like ``checkpoint_document``. Every link in ``entries_window`` (inclusive
    positions; None = every link) must have its entry. Never raises on bad data."""
    hashes: dict[int, str] = {}
    for entry_id, canonical in entries_iter:
        hashes[entry_id] = entry_hash(canonical)
    checkpoints = list(checkpoints)
    wanted_sizes = {c.get("size") for c in checkpoints if isinstance(c.get("size"), int)}
    heads: dict[int, str] = {0: GENESIS}

    def fail(position: int | None, reason: str, size: int) -> VerifyResult:
        return VerifyResult(False, size, position, reason, head)

    head, expected, seen = GENESIS, 0, set()
    for link in links_iter:
        position = link.get("position")
        entry_id = link.get("entry_id")
        if position != expected:
            if isinstance(position, int) and position > expected:
                return fail(expected, f"position {expected} is missing from the chain.", expected)
            return fail(
                expected,
                f"position {position!r} is out of order after position {expected - 1}.",
                expected,
            )
        if entry_id in seen:
            return fail(position, f"entry {entry_id} is linked a second time here.", expected)
        seen.add(entry_id)
        if not _is_hex64(link.get("entry_hash")) or not _is_hex64(link.get("chain_hash")):
            return fail(position, "the link's hashes are not 64 lowercase hex digits.", expected)
        actual = hashes.get(entry_id)
        required = entries_window is None or entries_window[0] <= position <= entries_window[1]
        if actual is None and required:
            return fail(
                position,
                f"entry {entry_id} is missing (deleted, or left out of the export).",
                expected,
            )
        if actual is not None and actual != link["entry_hash"]:
            return fail(
                position,
                f"entry {entry_id} does not match its sealed hash (its content was changed, "
                f"or entries were swapped): sealed {link['entry_hash'][:16]}…, "
                f"now {actual[:16]}….",
                expected,
            )
        computed = chain_hash(head, link["entry_hash"])
        if computed != link["chain_hash"]:
            return fail(
                position,
                f"the chain hash was changed: stored {link['chain_hash'][:16]}…, "
                f"recomputed {computed[:16]}….",
                expected,
            )
        head = computed
        expected += 1
        if expected in wanted_sizes:
            heads[expected] = head
    size = expected
    extra = set(hashes) - seen
    if extra:
        return fail(None, f"entry {min(extra)} is in the export but not in the chain.", size)

    latest: dict | None = None
    good_size = 0
    for checkpoint in sorted(checkpoints, key=_size_key):
        cp_size = checkpoint.get("size")
        label = f"checkpoint at size {cp_size!r} (kid {checkpoint.get('kid')!r})"
        if (
            not isinstance(cp_size, int)
            or cp_size < 0
            or not _is_hex64(checkpoint.get("head_hash"))
        ):
            return fail(None, f"{label} is malformed.", size)
        key = _public_key(public_jwks, checkpoint.get("kid"))
        if key is None:
            return fail(None, f"{label} is signed by a key that is not in the public keys.", size)
        try:
            text = checkpoint_text(
                size=cp_size,
                head_hash=checkpoint["head_hash"],
                created_at=str(checkpoint.get("created_at")),
            )
            key.verify(_b64url_decode(checkpoint.get("signature")), text)
        except (InvalidSignature, ValueError, TypeError):
            return fail(None, f"{label} has a bad signature.", size)
        if cp_size > size:
            return fail(
                size,
                f"{label} is beyond the chain's size {size}: links after position "
                f"{size - 1} were removed.",
                size,
            )
        if heads[cp_size] != checkpoint["head_hash"]:
            return fail(
                good_size,
                f"{label} signed head {checkpoint['head_hash'][:16]}… but the chain has "
                f"{heads[cp_size][:16]}… there: an entry between positions {good_size} and "
                f"{cp_size - 1} was rewritten together with the hashes after it.",
                size,
            )
        good_size = max(good_size, cp_size)
        latest = dict(checkpoint)
    return VerifyResult(True, size, None, "", head, latest, size - good_size)


def _size_key(checkpoint: Mapping) -> int:
    size = checkpoint.get("size")
    return size if isinstance(size, int) else -1


def _db_links() -> Iterator[dict]:
    names = ("position", "entry_id", "entry_hash", "chain_hash")
    if connection.vendor != "postgresql":
        for link in (
            ChainLink.objects.order_by("position").values_list(*names).iterator(chunk_size=2000)
        ):
            yield dict(zip(names, link, strict=True))
        return
    with connection.chunked_cursor() as cursor:
        cursor.execute(
            "SELECT position, entry_id, entry_hash, chain_hash FROM audit_chainlink "
            "ORDER BY position"
        )
        while rows := cursor.fetchmany(5000):
            for row in rows:
                yield dict(zip(names, row))  # noqa: B905 (four columns, four names)


def _db_entries(queryset) -> Iterator[tuple[int, bytes]]:
    labels: dict[int, str] = {}
    for values in entry_values(queryset.order_by("id")).iterator(chunk_size=5000):
        yield values[0], canonical_row(values, labels)


# The sealed entries' columns as PostgreSQL sends them for verification: the timestamp already
# in the canonical format (years before 1000 excepted, see format_time), JSON columns as text
# (decoded once here, as JSONField.from_db_value would), no model or field machinery per row.
_PG_SEALED_ENTRIES = """
SELECT e.id,
       CASE WHEN e."timestamp" >= '1000-01-01T00:00:00Z'
            THEN to_char(e."timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
       END,
       e.action, e.event, e.content_type_id, e.object_pk, e.object_id, e.object_repr,
       e.changes, e.changes_text, e.serialized_data, e.additional_data, e.actor_id,
       e.actor_label, e.actor_email, e.cid, e.remote_addr, e.remote_port
  FROM audit_ledgerentry e
 WHERE EXISTS (SELECT 1 FROM audit_chainlink l WHERE l.entry_id = e.id)
"""


def _pg_sealed_entries() -> Iterator[tuple[int, bytes]]:
    """``_db_entries`` of every sealed entry, read with one server-side cursor (PostgreSQL).
    Builds the same document as ``canonical_row`` (tests/audit pins both against each other)."""
    encode = _encode
    scan = json.scanner.make_scanner(json.JSONDecoder())

    def loads(text: str) -> Any:
        try:
            value, end = scan(text, 0)  # json.loads minus its per-call set-up
        except StopIteration:
            end = -1
        if end != len(text):
            return json.loads(text)  # whatever json.loads makes of it, errors included
        return value

    labels: dict[int, str] = {}
    with connection.chunked_cursor() as cursor:
        cursor.execute(_PG_SEALED_ENTRIES)
        while rows := cursor.fetchmany(5000):
            for (
                entry_id,
                timestamp,
                action,
                event,
                content_type_id,
                object_pk,
                object_id,
                object_repr,
                changes,
                changes_text,
                serialized_data,
                additional_data,
                actor_id,
                actor_label,
                actor_email,
                cid,
                remote_addr,
                remote_port,
            ) in rows:
                if timestamp is None:  # before the year 1000: format it as format_time does
                    timestamp = format_time(
                        LedgerEntry.objects.values_list("timestamp", flat=True).get(pk=entry_id)
                    )
                if content_type_id is None:
                    label = None
                else:
                    label = labels.get(content_type_id)
                    if label is None:
                        label = labels[content_type_id] = _content_type_label(content_type_id)
                document = {
                    "id": entry_id,
                    "timestamp": timestamp,
                    "action": action,
                    "event": event,
                    "content_type": label,
                    "object_pk": object_pk,
                    "object_id": object_id,
                    "object_repr": object_repr,
                    "changes": None if changes is None else loads(changes),
                    "changes_text": changes_text,
                    "serialized_data": None if serialized_data is None else loads(serialized_data),
                    "additional_data": None if additional_data is None else loads(additional_data),
                    "actor_id": actor_id,
                    "actor_label": actor_label,
                    "actor_email": actor_email,
                    "cid": cid,
                    "remote_addr": remote_addr,
                    "remote_port": remote_port,
                }
                yield entry_id, encode(document).encode("utf-8")


def verify_database() -> VerifyResult:
    """Verify what is sealed in the live database (unsealed entries are not judged; count
    them with ``unsealed_count``). On PostgreSQL, entries, links and checkpoints are read from
    one snapshot (REPEATABLE READ when not inside a caller's transaction), so a sealer
    committing meanwhile cannot make a link appear without its entry."""

    def run(entries: Iterable[tuple[int, bytes]]) -> VerifyResult:
        return verify(
            entries_iter=entries,
            links_iter=_db_links(),
            checkpoints=[checkpoint_document(c) for c in Checkpoint.objects.order_by("id")],
            public_jwks=checkpoint_public_keys(),
        )

    if connection.vendor != "postgresql":
        # No transaction: SQLite's IMMEDIATE transactions (settings) would hold off writers.
        return run(_db_entries(LedgerEntry.objects.filter(link__isnull=False)))
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        return run(_pg_sealed_entries())


def describe(result: VerifyResult) -> str:
    """One line: "OK: …" or "FAIL at position P: …"."""
    if not result.ok:
        where = (
            "" if result.first_bad_position is None else f" at position {result.first_bad_position}"
        )
        return f"FAIL{where}: {result.reason}"
    if result.checkpoint is None:
        signed = "no checkpoint to verify"
    else:
        signed = (
            f"checkpoint size {result.checkpoint['size']} of {result.checkpoint['created_at']} "
            f"(kid {result.checkpoint['kid']}) verified"
        )
    line = f"OK: {result.size} entries, head {result.head}, {signed}"
    if result.unsigned:
        line += f"; {result.unsigned} sealed entries after it are not yet in a checkpoint"
    return line


# --- Export bundle ---------------------------------------------------------------------------


def audit_bundle_write(
    path: str | Path, *, start: datetime | None = None, end: datetime | None = None
) -> dict:
    """Write a bundle for ``tools/verify_audit_bundle.py``: a directory, or a zip file when
    ``path`` ends in ``.zip``. Returns the manifest.

    The bundle holds the whole chain (every link up to its size, so heads can be recomputed
    and checkpoints checked) and the canonical entries of one contiguous window of positions:
    every sealed entry when no range is given; otherwise from the first to the last position
    whose entry's timestamp is in ``[start, end)``. The verifier requires every entry in that
    window to be present."""
    if start is not None and end is not None and end <= start:
        raise ValueError("end must be after start.")
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            # One snapshot for links, entries and checkpoints, so a sealer committing meanwhile
            # cannot add a checkpoint for links the bundle does not hold. (Inside a caller's
            # transaction, that transaction's snapshot rules.)
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        size, _ = _head()
        links = ChainLink.objects.filter(position__lt=size)
        in_range = links
        if start is not None:
            in_range = in_range.filter(entry__timestamp__gte=start)
        if end is not None:
            in_range = in_range.filter(entry__timestamp__lt=end)
        if start is None and end is None:
            window = (0, size - 1) if size else None
        else:
            bounds = in_range.aggregate(low=Min("position"), high=Max("position"))
            window = None if bounds["low"] is None else (bounds["low"], bounds["high"])
        manifest = {
            "format": BUNDLE_FORMAT,
            "exported_at": format_time(timezone.now()),
            "size": size,
            "start": None if start is None else format_time(start),
            "end": None if end is None else format_time(end),
            "entries_window": None if window is None else {"from": window[0], "to": window[1]},
        }
        files: dict[str, Iterable[bytes]] = {
            "manifest.json": [canonical_json(manifest) + b"\n"],
            "chain.jsonl": (canonical_json(link) + b"\n" for link in _db_links_below(size)),
            "entries.jsonl": (canonical + b"\n" for _, canonical in _window_entries(window)),
            "checkpoints.jsonl": (
                canonical_json(checkpoint_document(c)) + b"\n"
                # All of them: one beyond the chain's size shows that links were removed.
                for c in Checkpoint.objects.order_by("id")
            ),
            "public-keys.json": [canonical_json(checkpoint_public_keys()) + b"\n"],
        }
        _write_files(Path(path), files)
    return manifest


def _db_links_below(size: int) -> Iterator[dict]:
    for link in _db_links():
        if link["position"] >= size:
            return
        yield link


def _window_entries(window: tuple[int, int] | None) -> Iterator[tuple[int, bytes]]:
    if window is None:
        return
    queryset = LedgerEntry.objects.filter(
        link__position__gte=window[0], link__position__lte=window[1]
    ).order_by("link__position")
    labels: dict[int, str] = {}
    for values in entry_values(queryset).iterator(chunk_size=5000):
        yield values[0], canonical_row(values, labels)


def _write_files(path: Path, files: Mapping[str, Iterable[bytes]]) -> None:
    if path.suffix == ".zip":
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, chunks in files.items():
                with archive.open(name, "w") as handle:
                    for chunk in chunks:
                        handle.write(chunk)
        return
    path.mkdir(parents=True, exist_ok=True)
    for name, chunks in files.items():
        with open(path / name, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)


# --- Inclusion proofs ------------------------------------------------------------------------

PROOF_FORMAT = "governance-ledger-proof/v1"


def proof_bundle_files(entry_ids: Iterable[int], checkpoint: Checkpoint) -> dict[str, bytes]:
    """A bundle proving that each of ``entry_ids`` is in the chain a signed checkpoint covers,
    without the rest of the ledger (format ``governance-ledger-proof/v1``,
    docs/audit-verification.md):

    * ``chain.jsonl`` — the links from the first selected entry's position (``chain_from``)
      up to the checkpoint's size, each with its entry hash and chain hash;
    * ``manifest.json`` — ``anchor``, the chain hash just before ``chain_from`` (the genesis
      hash when it is 0), and the sizes;
    * ``entries.jsonl`` — the canonical bytes of the selected entries only;
    * ``checkpoints.jsonl`` — the checkpoints a verifier can check with these links (sizes from
      ``chain_from`` to the checkpoint's size), signed ``checkpoint`` included.

    From the anchor, the links fold to the signed head: an entry whose hash is in a link of
    that fold is in the signed chain (finding another anchor and links that fold to the same
    head would break SHA-256). The proof grows with the number of links after the first
    selected entry, not with the number of entries selected.

    Every selected entry must be sealed within the checkpoint; ValueError otherwise."""
    wanted = sorted(set(entry_ids))
    size = checkpoint.size
    positions = dict(
        ChainLink.objects.filter(entry_id__in=wanted, position__lt=size).values_list(
            "entry_id", "position"
        )
    )
    missing = [pk for pk in wanted if pk not in positions]
    if missing:
        raise ValueError(f"entries not covered by checkpoint {checkpoint.pk}: {missing[:10]}")
    start = min(positions.values()) if positions else size
    anchor = GENESIS
    if start > 0:
        anchor = ChainLink.objects.values_list("chain_hash", flat=True).get(position=start - 1)
    links = (
        ChainLink.objects.filter(position__gte=start, position__lt=size)
        .order_by("position")
        .values_list("position", "entry_id", "entry_hash", "chain_hash")
    )
    chain_lines = [
        canonical_json(
            dict(zip(("position", "entry_id", "entry_hash", "chain_hash"), link, strict=True))
        )
        + b"\n"
        for link in links.iterator(chunk_size=5000)
    ]
    entries = LedgerEntry.objects.filter(pk__in=wanted).order_by("link__position")
    entry_lines = [canonical_entry(e) + b"\n" for e in entries.iterator(chunk_size=2000)]
    checkpoints = [
        canonical_json(checkpoint_document(c)) + b"\n"
        for c in Checkpoint.objects.filter(size__gte=start, size__lte=size).order_by("id")
    ]
    manifest = {
        "format": PROOF_FORMAT,
        "exported_at": format_time(timezone.now()),
        "size": size,
        "chain_from": start,
        "anchor": anchor,
        "entries": len(entry_lines),
    }
    return {
        "manifest.json": canonical_json(manifest) + b"\n",
        "chain.jsonl": b"".join(chain_lines),
        "entries.jsonl": b"".join(entry_lines),
        "checkpoints.jsonl": b"".join(checkpoints),
        "public-keys.json": canonical_json(checkpoint_public_keys()) + b"\n",
    }
